"""Bulk plan changes move paying customers' Stripe subscriptions, end to end through the stand-in.

Legacy subscribers are made as Stripe would have them: a subscription started through
Checkout, then moved (at "Stripe") to the legacy plan's price, every event delivered. Events
are held and delivered by the test only between calls (on SQLite the live server shares the
test's connection: see `tests/billing/test_subscription_change_price.py`). The outbox rows
themselves, without Stripe, are tested in `test_stripe_price_moves.py`.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import stripe
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from accounts.models import BatchKind, Customer, PlanChange
from billing.models import PriceMoveStatus, StripePriceMove
from billing.services.stripe_price_moves import send_price_moves
from migration.batches.apply import migration_run
from migration.batches.rollback import migration_batch_rollback
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import UserFactory, plan
from tests.migration.support import legacy_customer
from tests.support.stripe import (
    Helpers,
    audit,
    changes_to,
    deliver_new,
    legacy_subscriber,
    price_at_stripe,
    subscribed,
)


def move_of(customer_external_id: str, batch) -> StripePriceMove:
    return StripePriceMove.objects.get(
        plan_change__customer__external_id=customer_external_id,
        plan_change__batch=batch,
        plan_change__source__in=["migration", "grandfathering"],
    )


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
class TestPriceMoves:
    def test_remap_moves_the_subscription_without_proration_and_webhooks_add_nothing(
        self, api, held_standin
    ):
        subscription = legacy_subscriber(api, held_standin, "alice", "legacy_build")
        legacy_customer("legacy_build", external_id="bob")  # pays no subscription
        mark, events = PlanChange.objects.count(), held_standin.event_count()

        batch = migration_run(kind=BatchKind.REMAP, actor="t")

        starter = plan("starter").stripe_price_id
        assert price_at_stripe(subscription) == starter
        change = PlanChange.objects.get(batch=batch, customer__external_id="alice")
        [request] = changes_to(subscription, held_standin)[-1:]
        assert request["params"]["proration_behavior"] == "none"
        assert request["params"]["items"][0]["price"] == starter
        assert request["idempotency_key"] == f"plan-change-{change.pk}-price"
        move = move_of("alice", batch)
        assert (move.status, move.attempts, move.from_price_id, move.to_price_id) == (
            PriceMoveStatus.DONE,
            1,
            plan("legacy_build").stripe_price_id,
            starter,
        )
        assert StripePriceMove.objects.filter(batch=batch).count() == 1  # none for bob
        assert Customer.objects.get(external_id="bob").plan.code == "starter"
        # Stripe's webhook about our move, delivered twice: nothing more is written.
        for _ in range(2):
            assert "customer.subscription.updated" in deliver_new(held_standin, since=events)
        alice = Customer.objects.get(external_id="alice")
        assert (alice.plan.code, alice.status) == ("starter", "active")
        assert PlanChange.objects.count() == mark + 2  # alice's and bob's, nothing else

    def test_grandfathering_moves_nothing_until_it_ends(self, api, held_standin):
        subscription = legacy_subscriber(api, held_standin, "carol", "legacy_pro")
        legacy_price = plan("legacy_pro").stripe_price_id

        batch = migration_run(kind=BatchKind.GRANDFATHER, actor="t")

        assert not StripePriceMove.objects.exists()
        assert changes_to(subscription, held_standin)[-1]["params"]["items"][0]["price"] == (
            legacy_price
        )
        assert price_at_stripe(subscription) == legacy_price
        assert "nothing to do" in run("apply_grandfathering")  # not ended yet
        assert not StripePriceMove.objects.exists()

        with time_machine.travel(timezone.now() + timedelta(days=100), tick=True):
            out = run("apply_grandfathering")

        assert "Stripe price moves: 1 done." in out
        assert price_at_stripe(subscription) == plan("growth").stripe_price_id
        carol = Customer.objects.get(external_id="carol")
        assert carol.plan.code == "growth"
        move = StripePriceMove.objects.get()
        assert move.batch_id != batch.pk
        assert (move.status, move.to_price_id) == (
            PriceMoveStatus.DONE,
            plan("growth").stripe_price_id,
        )

    def test_rollback_moves_the_subscription_back_to_the_recorded_price(self, api, held_standin):
        subscription = legacy_subscriber(api, held_standin, "dan", "legacy_build")
        legacy_price = plan("legacy_build").stripe_price_id
        dan = Customer.objects.get(external_id="dan")
        batch = migration_run(
            kind=BatchKind.REMAP, selection=CustomerSelection(customer_ids=(dan.pk,)), actor="t"
        )
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id
        events = held_standin.event_count()

        migration_batch_rollback(batch=batch, actor="t")

        assert price_at_stripe(subscription) == legacy_price
        back = StripePriceMove.objects.order_by("-id").first()
        assert (back.status, back.from_price_id, back.to_price_id) == (
            PriceMoveStatus.DONE,
            plan("starter").stripe_price_id,
            legacy_price,
        )
        assert back.plan_change.source == "rollback"
        assert changes_to(subscription, held_standin)[-1]["params"]["proration_behavior"] == "none"
        rows = PlanChange.objects.filter(customer=dan).count()
        deliver_new(held_standin, since=events)
        dan.refresh_from_db()
        assert dan.plan.code == "legacy_build"
        assert PlanChange.objects.filter(customer=dan).count() == rows

    def test_stripe_down_leaves_the_move_pending_then_the_command_completes_it_once(
        self, api, held_standin
    ):
        subscription = legacy_subscriber(api, held_standin, "erin", "legacy_build")
        legacy_price = plan("legacy_build").stripe_price_id
        stripe.api_base = "http://127.0.0.1:9"  # Stripe down (the fixture restores it)

        batch = migration_run(kind=BatchKind.REMAP, actor="t")

        erin = Customer.objects.get(external_id="erin")
        assert erin.plan.code == "starter"  # the plan change stands
        move = move_of("erin", batch)
        assert (move.status, move.attempts) == (PriceMoveStatus.PENDING, 1)
        assert "Stripe could not" in move.last_error
        stripe.api_base = held_standin.url
        assert price_at_stripe(subscription) == legacy_price
        # A renewal at the old price meanwhile does not move erin back to the legacy plan.
        events = held_standin.event_count()
        Helpers(held_standin).renew(subscription)
        deliver_new(held_standin, since=events)
        assert Customer.objects.get(external_id="erin").plan.code == "starter"
        posts = len(changes_to(subscription, held_standin))

        out = run("stripe_price_moves")

        assert "Moved 1;" in out
        assert "Stripe price moves: 1 done." in out
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id
        [request] = changes_to(subscription, held_standin)[posts:]
        assert request["idempotency_key"] == move.idempotency_key
        assert request["params"]["proration_behavior"] == "none"
        move.refresh_from_db()
        assert (move.status, move.attempts, move.last_error) == (PriceMoveStatus.DONE, 2, "")

        out = run("stripe_price_moves")
        assert "Moved 0;" in out
        assert len(changes_to(subscription, held_standin)) == posts + 1
        assert audit("erin")[-1][:2] == ("legacy_build", "starter")

    def test_retry_command_fails_while_stripe_is_down(self, api, held_standin):
        legacy_subscriber(api, held_standin, "fay", "legacy_build")
        stripe.api_base = "http://127.0.0.1:9"
        migration_run(kind=BatchKind.REMAP, actor="t")
        with pytest.raises(CommandError, match="stay pending"):
            run("stripe_price_moves")
        assert StripePriceMove.objects.get().attempts == 2

    def test_target_plan_without_a_price_id_is_reported_not_sent(
        self, api, held_standin, admin_client, settings
    ):
        settings.STRIPE_PRICE_STARTER = ""
        subscription = legacy_subscriber(api, held_standin, "gus", "legacy_build")
        starter = plan("starter")
        starter_price, starter.stripe_price_id = starter.stripe_price_id, ""
        starter.save(update_fields=["stripe_price_id"])
        posts = len(changes_to(subscription, held_standin))

        batch = migration_run(kind=BatchKind.REMAP, actor="t")

        assert Customer.objects.get(external_id="gus").plan.code == "starter"
        move = move_of("gus", batch)
        assert move.status == PriceMoveStatus.FAILED
        assert "set the plan's Stripe price id in the admin" in move.last_error
        assert len(changes_to(subscription, held_standin)) == posts
        out = run("stripe_price_moves")
        assert "1 failed (needs staff)" in out
        assert "Plan starter (Starter) has no Stripe price id" in out
        page = admin_client.get(
            reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        ).content.decode()
        assert "Stripe price moves" in page
        assert "has no Stripe price id" in page

        starter.stripe_price_id = starter_price
        starter.save(update_fields=["stripe_price_id"])
        out = run("stripe_price_moves", "--retry")
        assert "Moved 1;" in out
        assert price_at_stripe(subscription) == starter_price


@pytest.mark.django_db(transaction=True)
class TestPriceMovesInTheBackground:
    """Price moves are tasks queued with the plan change; failures are sorted into those worth
    retrying and those that never can work."""

    def test_a_subscription_stripe_does_not_know_fails_for_good_with_stripes_words(
        self, api, held_standin
    ):
        legacy_subscriber(api, held_standin, "hal", "legacy_build")
        hal = Customer.objects.get(external_id="hal")
        Customer.objects.filter(pk=hal.pk).update(stripe_subscription_id="sub_gone")

        batch = migration_run(
            kind=BatchKind.REMAP, selection=CustomerSelection(customer_ids=(hal.pk,)), actor="t"
        )

        move = move_of("hal", batch)
        assert (move.status, move.attempts) == (PriceMoveStatus.FAILED, 1)
        assert move.last_error.startswith("Stripe refused it for good:")
        assert "No such subscription" in move.last_error
        assert Customer.objects.get(pk=hal.pk).plan.code == "starter"  # the change stands
        send_price_moves.call()  # the scheduled retry leaves it alone
        move.refresh_from_db()
        assert (move.status, move.attempts) == (PriceMoveStatus.FAILED, 1)

    def test_stripe_500_then_429_stay_pending_and_the_scheduled_run_completes_it_once(
        self, api, held_standin
    ):
        subscription = legacy_subscriber(api, held_standin, "ida", "legacy_build")
        held_standin.fail_next(1, 500)

        batch = migration_run(kind=BatchKind.REMAP, actor="t")

        move = move_of("ida", batch)
        assert (move.status, move.attempts) == (PriceMoveStatus.PENDING, 1)
        assert "Stripe could not" in move.last_error
        held_standin.fail_next(1, 429)
        send_price_moves.call()  # the 5-minute job, as a worker runs it
        move.refresh_from_db()
        assert (move.status, move.attempts) == (PriceMoveStatus.PENDING, 2)
        posts = len(changes_to(subscription, held_standin))
        send_price_moves.call()
        move.refresh_from_db()
        assert (move.status, move.attempts, move.last_error) == (PriceMoveStatus.DONE, 3, "")
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id
        assert len(changes_to(subscription, held_standin)) == posts + 1
        send_price_moves.call()
        assert len(changes_to(subscription, held_standin)) == posts + 1  # nothing twice

    def test_a_manual_plan_change_of_a_subscriber_moves_its_stripe_price_and_stays(
        self, api, held_standin
    ):
        subscription = subscribed(api, held_standin, "jon")
        events = held_standin.event_count()

        out = run("customer_set_plan", "jon", "growth", "--reason", "goodwill")

        assert "jon: starter → growth" in out
        growth = plan("growth").stripe_price_id
        assert price_at_stripe(subscription) == growth
        [request] = changes_to(subscription, held_standin)[-1:]
        assert request["params"]["proration_behavior"] == "none"
        # Stripe's webhooks about the move (twice) do not take jon back to starter.
        for _ in range(2):
            deliver_new(held_standin, since=events)
        assert Customer.objects.get(external_id="jon").plan.code == "growth"

    def test_staff_send_failed_moves_again_from_the_admin(
        self, api, held_standin, admin_client, client, settings
    ):
        settings.STRIPE_PRICE_STARTER = ""
        subscription = legacy_subscriber(api, held_standin, "kim", "legacy_build")
        starter = plan("starter")
        starter_price, starter.stripe_price_id = starter.stripe_price_id, ""
        starter.save(update_fields=["stripe_price_id"])
        batch = migration_run(kind=BatchKind.REMAP, actor="t")
        move = move_of("kim", batch)
        assert move.status == PriceMoveStatus.FAILED
        changelist = reverse("admin:billing_stripepricemove_changelist")
        action = {"action": "send_again", "_selected_action": [move.pk]}

        viewer = UserFactory(username="viewer", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_stripepricemove"))
        client.force_login(viewer)
        assert "send_again" not in client.get(changelist).content.decode()
        client.post(changelist, action)
        move.refresh_from_db()
        assert move.status == PriceMoveStatus.FAILED  # a view-only user changes nothing

        starter.stripe_price_id = starter_price
        starter.save(update_fields=["stripe_price_id"])
        answer = admin_client.post(changelist, action, follow=True)

        assert "1 move(s) queued to be sent again." in answer.content.decode()
        move.refresh_from_db()
        assert (move.status, move.to_price_id) == (PriceMoveStatus.DONE, starter_price)
        assert price_at_stripe(subscription) == starter_price


@pytest.mark.django_db(transaction=True)
def test_a_move_that_lands_after_a_roll_back_superseded_it_is_undone_at_stripe(
    api, held_standin, monkeypatch
):
    """Worker 1 lists the remap's move; while it is sending it, staff roll the batch back and
    worker 2 handles the roll-back's move, finds Stripe still on the old price and counts it
    done; then worker 1's move lands. The roll-back's move is sent again: Stripe ends on the
    old price, as the customer's plan does."""
    from django.test import override_settings

    from billing.services import stripe_price_moves

    subscription = legacy_subscriber(api, held_standin, "dan", "legacy_build")
    legacy, starter = plan("legacy_build").stripe_price_id, plan("starter").stripe_price_id
    dan = Customer.objects.get(external_id="dan")
    queued = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with override_settings(TASKS=queued):  # the sending task waits for a worker
        batch = migration_run(
            kind=BatchKind.REMAP, selection=CustomerSelection(customer_ids=(dan.pk,)), actor="t"
        )
    send, meanwhile = stripe_price_moves._send, []

    def slow_send(**kwargs):
        if kwargs["price_id"] == starter and not meanwhile:
            meanwhile.append(1)
            with override_settings(TASKS=queued):
                migration_batch_rollback(batch=batch, actor="t")
            stripe_price_moves.price_moves_process()  # worker 2
        return send(**kwargs)

    monkeypatch.setattr(stripe_price_moves, "_send", slow_send)
    stripe_price_moves.price_moves_process(batch_id=batch.pk)  # worker 1

    dan.refresh_from_db()
    assert dan.plan.code == "legacy_build"
    assert price_at_stripe(subscription) == legacy
    back = StripePriceMove.objects.order_by("id").last()
    assert (back.to_price_id, back.status) == (legacy, PriceMoveStatus.DONE)
