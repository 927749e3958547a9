"""A subscriber moves itself to Free at the period's end and undoes it
(`POST /billing/subscription/cancel` and `/resume`), and previews a switch
(`GET /billing/subscription/preview`: Stripe's upcoming invoice). Through the stand-in."""

from __future__ import annotations

import pytest
import stripe
from rest_framework.test import APIClient

from accounts.formatting import money
from accounts.models import ChangeSource, Customer, PlanChange
from accounts.services.plan_change import customer_change_plan
from billing.models import StripeAction, StripePriceMove
from tests.accounts.factories import plan
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS, Helpers, changes_to, deliver_new, subscribed

CANCEL, RESUME, PREVIEW = (
    "/billing/subscription/cancel",
    "/billing/subscription/resume",
    "/billing/subscription/preview",
)


def as_customer(customer: Customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


def at_stripe(subscription: str):
    return stripe.Subscription.retrieve(subscription, **OPTIONS)


@pytest.mark.django_db(transaction=True)
class TestMoveToFree:
    def test_cancel_at_period_end_then_undo(self, api, held_standin):
        alice = customer_with_login("free", username="alice")
        subscription = subscribed(api, held_standin, "alice", "starter")
        client = as_customer(alice)
        end = at_stripe(subscription)["items"]["data"][0]["current_period_end"]

        response = client.post(CANCEL, {}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["plan"], body["pendingPlan"]) == ("starter", "free")
        alice.refresh_from_db()
        assert int(alice.pending_plan_at.timestamp()) == end
        assert at_stripe(subscription)["cancel_at_period_end"] is True
        row = PlanChange.objects.filter(customer=alice).order_by("-pk").first()
        assert (row.source, row.actor, row.state_after["pending_plan"]) == (
            ChangeSource.API,
            "alice",
            "free",
        )
        assert client.post(CANCEL, {}, format="json").json()["code"] == "conflict"
        deliver_new(held_standin, since=0)
        alice.refresh_from_db()
        assert (alice.plan.code, alice.pending_plan.code) == ("starter", "free")

        response = client.post(RESUME, {}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["pendingPlan"] is None
        assert at_stripe(subscription)["cancel_at_period_end"] is False
        assert [m.action for m in StripePriceMove.objects.order_by("pk")] == [
            StripeAction.CANCEL_AT_PERIOD_END,
            StripeAction.RESUME,
        ]
        assert client.post(RESUME, {}, format="json").status_code == 409
        # The period ends: the subscription renews, the customer stays on Starter.
        events = held_standin.event_count()
        Helpers(held_standin).renew(subscription)
        deliver_new(held_standin, since=events)
        alice.refresh_from_db()
        assert (alice.plan.code, alice.status, alice.pending_plan) == ("starter", "active", None)

    def test_the_period_end_moves_the_customer_to_free(self, api, held_standin):
        bob = customer_with_login("free", username="bob")
        subscription = subscribed(api, held_standin, "bob", "growth")
        as_customer(bob).post(CANCEL, {}, format="json")
        events = held_standin.event_count()
        Helpers(held_standin).renew(subscription)
        assert "customer.subscription.deleted" in deliver_new(held_standin, since=events)
        bob.refresh_from_db()
        assert (bob.plan.code, bob.status, bob.pending_plan) == ("free", "canceled", None)
        assert at_stripe(subscription)["status"] == "canceled"

    def test_any_other_move_replaces_the_pending_one_and_renews_the_subscription(
        self, api, held_standin
    ):
        """Whatever path moves the customer (here the one webhooks and reconciliation take),
        the pending move to Free is undone in the plan history and at Stripe."""
        dave = customer_with_login("free", username="dave")
        subscribed(api, held_standin, "dave", "starter")
        as_customer(dave).post(CANCEL, {}, format="json")

        customer_change_plan(
            customer=dave, plan=plan("growth"), source=ChangeSource.WEBHOOK, actor="stripe"
        )

        dave.refresh_from_db()
        assert (dave.plan.code, dave.pending_plan) == ("growth", None)
        assert [m.action for m in StripePriceMove.objects.order_by("pk")][-1] == (
            StripeAction.RESUME
        )
        undone, moved = PlanChange.objects.filter(customer=dave).order_by("-pk")[:2][::-1]
        assert undone.state_after["pending_plan"] is None
        assert undone.reason == "replaced by the move to growth"
        assert (moved.from_plan.code, moved.to_plan.code) == ("starter", "growth")

    def test_refusals(self, api, held_standin):
        carol = customer_with_login("free", username="carol")
        client = as_customer(carol)
        assert client.post(CANCEL, {}, format="json").json()["code"] == "no_subscription"
        assert client.post(RESUME, {}, format="json").status_code == 409
        assert client.post(CANCEL, {"user_id": "someone-else"}, format="json").status_code == 403
        assert client.post(CANCEL, {"user_id": ["x"]}, format="json").status_code == 400
        assert APIClient().post(CANCEL, {}, format="json").status_code in (401, 403)
        assert api.post(CANCEL, {"user_id": "ghost"}, format="json").status_code == 404
        assert not PlanChange.objects.filter(customer=carol).exclude(source="system").exists()


@pytest.mark.django_db(transaction=True)
class TestPreview:
    def test_upgrade_preview_is_stripes_prorated_amount(self, api, held_standin):
        dan = customer_with_login("free", username="dan")
        subscription = subscribed(api, held_standin, "dan", "starter")

        response = as_customer(dan).get(PREVIEW, {"plan": "growth"})

        assert response.status_code == 200, response.content
        body = response.json()
        # Switching at once: the unused Starter month is credited, a Growth month is charged.
        assert body["prorationAmount"] == pytest.approx(9900 - 2900, abs=5)
        assert body["amountDue"] == body["prorationAmount"] + 9900
        assert body["currency"] == "usd"
        assert body["prorationText"] == money(body["prorationAmount"])
        assert [r["path"] for r in held_standin.requests if r["method"] == "POST"][-1] == (
            "/v1/invoices/create_preview"
        )
        assert changes_to(subscription, held_standin) == []  # nothing changed
        assert Customer.objects.get(external_id="dan").plan.code == "starter"

    def test_downgrade_preview_is_a_credit(self, api, held_standin):
        erin = customer_with_login("free", username="erin")
        subscribed(api, held_standin, "erin", "growth")
        body = as_customer(erin).get(PREVIEW, {"plan": "starter"}).json()
        assert body["prorationAmount"] == pytest.approx(2900 - 9900, abs=5)

    def test_preview_refusals(self, api, held_standin):
        fay = customer_with_login("free", username="fay")
        client = as_customer(fay)
        assert client.get(PREVIEW, {"plan": "growth"}).json()["code"] == "no_subscription"
        assert client.get(PREVIEW, {"plan": "free"}).status_code == 400
        assert client.get(PREVIEW, {"plan": "<script>"}).status_code == 400
        assert client.get(PREVIEW).status_code == 400
        assert client.get(PREVIEW, {"plan": "growth", "user_id": "other"}).status_code == 403
        assert plan("growth")  # catalogue untouched


@pytest.mark.django_db(transaction=True)
def test_a_switch_undoes_a_pending_move_to_free(api, held_standin):
    gus = customer_with_login("free", username="gus")
    subscription = subscribed(api, held_standin, "gus", "starter")
    client = as_customer(gus)
    assert client.post(CANCEL, {}, format="json").status_code == 200
    assert at_stripe(subscription)["cancel_at_period_end"] is True

    response = client.post("/billing/subscription", {"plan": "growth"}, format="json")

    assert response.status_code == 200, response.content
    assert at_stripe(subscription)["cancel_at_period_end"] is False
    gus.refresh_from_db()
    assert (gus.plan.code, gus.pending_plan) == ("growth", None)
    rows = [str(row) for row in PlanChange.objects.filter(customer=gus).order_by("pk")][-2:]
    assert "(move to free undone)" in rows[0] and rows[1].startswith("Starter → Growth")
    events = held_standin.event_count()
    Helpers(held_standin).renew(subscription)
    deliver_new(held_standin, since=events)
    gus.refresh_from_db()
    assert (gus.plan.code, gus.status) == ("growth", "active")
