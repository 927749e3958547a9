"""The customer page's "Change plan" (issue 12, point 1): a confirmation page, then the one
plan-change service; Stripe through the stand-in, webhooks signed and replayed as Stripe does.

Events are held and delivered by the test between requests (see
`tests/billing/test_subscription_change_price.py` for why).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse
from djstripe.models import WebhookEventTrigger

from accounts.models import ChangeSource, Customer, PlanChange
from accounts.services.scheduled_plan import scheduled_plan_changes_apply
from billing.models import PriceMoveStatus, StripeAction, StripePriceMove
from billing.webhooks import replay_stripe_event
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.support.stripe import (
    OPTIONS,
    Helpers,
    audit,
    changes_to,
    deliver_new,
    price_at_stripe,
    subscribed,
)


def page(customer: Customer) -> str:
    return reverse("admin:accounts_customer_change_plan", args=[customer.pk])


def change(client, customer: Customer, plan_code: str, **fields):
    data = {
        "plan": plan(plan_code).pk,
        "when": "now",
        "proration": "none",
        "reason": "asked by support",
        "apply": "1",
        **fields,
    }
    return client.post(page(customer), data)


def replay_all(standin) -> list[str]:
    """Every event Stripe sent since the start, delivered again (as Stripe retries), then each
    stored delivery applied again (the webhook ledger's Replay, which re-reads Stripe)."""
    sent = deliver_new(standin, since=0)
    triggers = WebhookEventTrigger.objects.filter(valid=True).order_by("created")
    for trigger_id in triggers.values_list("pk", flat=True):
        assert "failed" not in replay_stripe_event.call(trigger_id)
    return sent


@pytest.mark.django_db
class TestPage:
    def test_preview_shows_old_to_new_and_what_happens_at_stripe(self, staff_client):
        alice = CustomerFactory(external_id="alice", plan=plan("free"))
        response = staff_client.post(
            page(alice),
            {"plan": plan("growth").pk, "when": "now", "proration": "none", "reason": "vip"},
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "Free → Growth, now" in html
        for old, new in (("$0.00", "$99.00"), ("100 sessions", "20,000 sessions"), ("1", "50")):
            assert f'<td>{old}</td><td class="arrow">→</td><td>{new}</td>' in html
        assert "Nothing at Stripe" in html and "complimentary" in html
        assert 'name="apply"' in html
        alice.refresh_from_db()
        assert alice.plan.code == "free" and not PlanChange.objects.exists()

    def test_the_page_is_titled_and_chooses_no_plan_for_staff(self, staff_client):
        paying = CustomerFactory(external_id="paula", plan=plan("growth"))
        html = staff_client.get(page(paying)).content.decode()
        assert '<h2 data-testid="page-title"' in html and "Change plan: paula" in html
        # Nothing preselected: the first plan listed (Free) would be a downgrade.
        assert '<option value="" selected>Choose a plan…</option>' in html
        assert "selected>Free" not in html

    def test_customer_page_has_the_button(self, staff_client):
        alice = CustomerFactory(external_id="alice")
        html = staff_client.get(
            reverse("admin:accounts_customer_change", args=[alice.pk])
        ).content.decode()
        assert f'href="{page(alice)}">Change plan</a>' in html

    def test_reason_is_required(self, staff_client):
        alice = CustomerFactory(external_id="alice")
        response = change(staff_client, alice, "growth", reason="   ")
        assert response.status_code == 200
        assert "This field is required" in response.content.decode() or "Say why" in (
            response.content.decode()
        )
        alice.refresh_from_db()
        assert alice.plan.code == "free" and not PlanChange.objects.exists()

    def test_staff_without_change_permission_gets_403(self, client):
        viewer = UserFactory(username="viewer", is_staff=True)
        viewer.user_permissions.add(
            Permission.objects.get(codename="view_customer", content_type__app_label="accounts")
        )
        client.force_login(viewer)
        alice = CustomerFactory(external_id="alice")
        assert client.get(page(alice)).status_code == 403
        assert change(client, alice, "growth").status_code == 403
        alice.refresh_from_db()
        assert alice.plan.code == "free" and not PlanChange.objects.exists()

    def test_hostile_input_is_a_form_error(self, staff_client):
        alice = CustomerFactory(external_id="alice")
        for fields in (
            {"plan": "999999"},
            {"plan": "x"},
            {"when": "yesterday"},
            {"proration": "always_invoice"},
            {"reason": "x" * 501},
        ):
            response = change(staff_client, alice, "growth", **fields)
            assert response.status_code == 200, fields
            assert "errorlist" in response.content.decode(), fields
        assert staff_client.get(page(alice).replace(str(alice.pk), "424242")).status_code == 404
        assert not PlanChange.objects.exists()

    def test_period_end_without_a_subscription_is_refused(self, staff_client):
        alice = CustomerFactory(external_id="alice")
        response = change(staff_client, alice, "growth", when="period_end")
        assert "no paid period" in response.content.decode()
        assert not PlanChange.objects.exists()

    def test_non_paying_customer_gets_a_complimentary_plan(self, staff_client):
        alice = CustomerFactory(external_id="alice")
        response = change(staff_client, alice, "growth", reason="conference sponsor")
        assert response.status_code == 302
        alice.refresh_from_db()
        assert (alice.plan.code, alice.complimentary) == ("growth", True)
        row = PlanChange.objects.get(customer=alice)
        assert (row.source, row.actor, row.reason, row.complimentary) == (
            ChangeSource.ADMIN,
            "admin:staff",
            "conference sponsor",
            True,
        )
        assert not StripePriceMove.objects.exists()
        html = staff_client.get(response["Location"]).content.decode()
        assert 'data-testid="complimentary"' in html
        assert str(row).startswith("Free → Growth (complimentary) · by admin:staff")
        # Back to free: no longer complimentary.
        change(staff_client, alice, "free", reason="sponsorship over")
        alice.refresh_from_db()
        assert (alice.plan.code, alice.complimentary) == ("free", False)


@pytest.mark.django_db(transaction=True)
class TestWithStripe:
    def test_subscriber_moved_now_prorated_and_webhooks_replayed_change_nothing(
        self, api, held_standin, staff_client
    ):
        subscription = subscribed(api, held_standin, "alice", "starter")
        alice = Customer.objects.get(external_id="alice")
        events = held_standin.event_count()

        response = change(staff_client, alice, "growth", proration="create_prorations")

        assert response.status_code == 302
        move = StripePriceMove.objects.get()
        assert (move.status, move.action, move.proration_behavior) == (
            PriceMoveStatus.DONE,
            StripeAction.PRICE,
            "create_prorations",
        )
        [request] = changes_to(subscription, held_standin)
        assert request["params"]["proration_behavior"] == "create_prorations"
        assert price_at_stripe(subscription) == plan("growth").stripe_price_id
        assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
        replay_all(held_standin)
        alice.refresh_from_db()
        assert (alice.plan.code, alice.status, alice.complimentary) == ("growth", "active", False)
        assert audit("alice")[-1] == ("starter", "growth", ChangeSource.ADMIN, "admin:staff")

    def test_move_to_free_at_period_end_keeps_the_plan_until_stripe_ends_it(
        self, api, held_standin, staff_client
    ):
        subscription = subscribed(api, held_standin, "bob", "growth")
        bob = Customer.objects.get(external_id="bob")
        events = held_standin.event_count()

        response = change(staff_client, bob, "free", when="period_end", reason="leaving")

        assert response.status_code == 302
        bob.refresh_from_db()
        end = stripe.Subscription.retrieve(subscription, **OPTIONS)["items"]["data"][0][
            "current_period_end"
        ]
        assert (bob.plan.code, bob.pending_plan.code) == ("growth", "free")
        assert int(bob.pending_plan_at.timestamp()) == end
        at_stripe = stripe.Subscription.retrieve(subscription, **OPTIONS)
        assert (at_stripe["status"], at_stripe["cancel_at_period_end"]) == ("active", True)
        html = staff_client.get(response["Location"]).content.decode()
        assert "moves to Free on" in html
        scheduled = PlanChange.objects.filter(customer=bob).order_by("-pk").first()
        assert str(scheduled).startswith(
            "Growth (to free at the end of the paid period) · by admin:staff · "
        )
        # Stripe's webhooks (and every earlier one again) leave the customer on Growth.
        assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
        replay_all(held_standin)
        bob.refresh_from_db()
        assert (bob.plan.code, bob.status, bob.pending_plan.code) == ("growth", "active", "free")
        # The scheduler does not move it early: Stripe's deletion does.
        with time_machine.travel(bob.pending_plan_at + timedelta(minutes=1), tick=False):
            assert scheduled_plan_changes_apply.call() == {"applied": 0}
        events = held_standin.event_count()
        Helpers(held_standin).renew(subscription)  # the period ends
        assert "customer.subscription.deleted" in deliver_new(held_standin, since=events)
        bob.refresh_from_db()
        assert (bob.plan.code, bob.status, bob.pending_plan) == ("free", "canceled", None)
        replay_all(held_standin)
        bob.refresh_from_db()
        assert bob.plan.code == "free"

    def test_move_to_free_now_cancels_the_subscription_now(self, api, held_standin, staff_client):
        subscription = subscribed(api, held_standin, "carol", "starter")
        carol = Customer.objects.get(external_id="carol")
        events = held_standin.event_count()

        change(staff_client, carol, "free", reason="fraud")

        carol.refresh_from_db()
        assert carol.plan.code == "free"
        assert stripe.Subscription.retrieve(subscription, **OPTIONS)["status"] == "canceled"
        move = StripePriceMove.objects.get()
        assert (move.action, move.status) == (StripeAction.CANCEL_NOW, PriceMoveStatus.DONE)
        assert "customer.subscription.deleted" in deliver_new(held_standin, since=events)
        replay_all(held_standin)
        carol.refresh_from_db()
        assert (carol.plan.code, carol.status) == ("free", "canceled")

    def test_paid_move_at_period_end_is_applied_by_the_scheduler(
        self, api, held_standin, staff_client
    ):
        subscription = subscribed(api, held_standin, "dan", "growth")
        dan = Customer.objects.get(external_id="dan")

        change(staff_client, dan, "starter", when="period_end", reason="budget")

        dan.refresh_from_db()
        assert (dan.plan.code, dan.pending_plan.code) == ("growth", "starter")
        assert changes_to(subscription, held_standin) == []
        replay_all(held_standin)
        dan.refresh_from_db()
        assert dan.plan.code == "growth"
        with time_machine.travel(dan.pending_plan_at - timedelta(minutes=1), tick=False):
            assert scheduled_plan_changes_apply.call() == {"applied": 0}
        events = held_standin.event_count()
        # (The clock stands still here: Stripe calls are paced per second of it, so few.)
        with time_machine.travel(dan.pending_plan_at + timedelta(minutes=1), tick=False):
            assert scheduled_plan_changes_apply.call() == {"applied": 1}
        dan.refresh_from_db()
        assert (dan.plan.code, dan.pending_plan) == ("starter", None)
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id
        [request] = changes_to(subscription, held_standin)
        assert request["params"]["proration_behavior"] == "create_prorations"
        last = PlanChange.objects.filter(customer=dan).order_by("-pk").first()
        assert (last.source, last.actor) == (ChangeSource.SYSTEM, "scheduler")
        assert "scheduled by admin:staff: budget" in last.reason
        deliver_new(held_standin, since=events)
        replay_all(held_standin)
        dan.refresh_from_db()
        assert dan.plan.code == "starter"

    def test_complimentary_plan_survives_the_old_subscriptions_webhooks(
        self, api, held_standin, staff_client
    ):
        subscription = subscribed(api, held_standin, "erin", "starter")
        Helpers(held_standin).cancel(subscription)
        replay_all(held_standin)
        erin = Customer.objects.get(external_id="erin")
        assert (erin.plan.code, erin.status) == ("free", "canceled")

        change(staff_client, erin, "growth", reason="partner")

        erin.refresh_from_db()
        assert (erin.plan.code, erin.complimentary) == ("growth", True)
        assert not StripePriceMove.objects.exists()
        replay_all(held_standin)
        erin.refresh_from_db()
        assert (erin.plan.code, erin.complimentary) == ("growth", True)
