"""`manage.py reconcile_stripe` (`billing/services/reconcile.py`): drift from Stripe is
reported by user_id and changes nothing; `--fix` applies Stripe's state through the plan-change
service, audited with source `reconcile`, and moves no Stripe price back."""

from __future__ import annotations

from io import StringIO

import pytest
import stripe
from django.core.management import call_command
from django.test import override_settings

from accounts.models import ChangeSource, Customer, PlanChange
from accounts.services.plan_change import customer_change_plan
from billing.models import PriceMoveStatus, StripePriceMove
from tests.accounts.factories import plan
from tests.support.stripe import OPTIONS, Helpers, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile_stripe", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def moved_at_stripe_only(subscription_id: str, code: str) -> None:
    """A change made in Stripe's dashboard whose webhook never arrived."""
    item = stripe.Subscription.retrieve(subscription_id, **OPTIONS)["items"]["data"][0]["id"]
    stripe.Subscription.modify(
        subscription_id,
        items=[{"id": item, "price": plan(code).stripe_price_id}],
        proration_behavior="none",
        **OPTIONS,
    )


def test_drift_is_reported_then_fixed_through_the_audited_path(api, held_standin):
    subscription = subscribed(api, held_standin, "alice")
    subscribed(api, held_standin, "bob")
    moved_at_stripe_only(subscription, "growth")  # held: no webhook delivered
    rows = PlanChange.objects.count()

    out = reconcile()

    assert "alice: plan starter here, growth at Stripe" in out
    assert "bob" not in out.replace("Checked", "")
    assert "Checked 2 customer(s): 1 drifted; run with --fix" in out
    assert Customer.objects.get(external_id="alice").plan.code == "starter"  # nothing changed
    assert PlanChange.objects.count() == rows

    out = reconcile("--fix")

    assert "1 drifted, 1 fixed." in out
    alice = Customer.objects.get(external_id="alice")
    assert alice.plan.code == "growth"
    change = PlanChange.objects.filter(customer=alice).latest("id")
    assert (change.source, change.actor, change.to_plan.code) == (
        ChangeSource.RECONCILE,
        "reconcile",
        "growth",
    )
    assert not StripePriceMove.objects.exists()  # Stripe's own state: nothing to move back
    assert "0 drifted." in reconcile()


def test_a_status_stripe_changed_is_drift_too(api, held_standin):
    subscription = subscribed(api, held_standin, "carol")
    Helpers(held_standin).fail_payment(subscription)  # past_due at Stripe, webhook held
    out = reconcile("--customers", "carol")
    assert "carol: status active here, past_due at Stripe" in out
    reconcile("--fix", "--customers", "carol")
    assert Customer.objects.get(external_id="carol").status == "past_due"


def test_a_failed_price_move_is_drift_that_the_fix_names_and_does_not_count(api, held_standin):
    subscribed(api, held_standin, "dora")  # Starter through Checkout
    dora = Customer.objects.get(external_id="dora")
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        customer_change_plan(  # its price move is recorded, not sent
            customer=dora,
            plan=plan("growth"),
            source=ChangeSource.ADMIN,
            actor="admin:staff",
            reason="upgrade by staff",
        )
    StripePriceMove.objects.update(status=PriceMoveStatus.FAILED, last_error="refused")

    out = reconcile("--fix")

    assert "not fixed: dora: plan growth here, starter at Stripe" in out
    assert "our move to growth's price failed; send it again" in out
    assert "1 drifted, 0 fixed, 1 not (above)." in out
    assert Customer.objects.get(external_id="dora").plan.code == "growth"  # our plan stands
