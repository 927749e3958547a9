"""Which pending changes the `scheduled-plan-changes` job takes up."""

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import CustomerStatus
from accounts.services.scheduled_plan import scheduled_plan_changes_due
from tests.accounts.factories import CustomerFactory, plan

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


def pending(external_id: str, to: str, *, at=NOW - timedelta(minutes=5), **fields):
    return CustomerFactory(
        external_id=external_id,
        plan=plan("starter"),
        pending_plan=plan(to),
        pending_plan_at=at,
        **fields,
    )


def test_the_job_leaves_the_moves_stripe_makes_and_those_not_due():
    due = pending("comp", "growth")  # given by hand: the job moves it
    paid_to_paid = pending("payer", "growth", stripe_subscription_id="sub_1")
    ended = pending("ended", "free", stripe_subscription_id="sub_2", status=CustomerStatus.CANCELED)
    pending("canceling", "free", stripe_subscription_id="sub_3")  # Stripe's webhook moves it
    pending("later", "growth", at=NOW + timedelta(days=1))
    assert [c.external_id for c in scheduled_plan_changes_due(now=NOW)] == [
        due.external_id,
        paid_to_paid.external_id,
        ended.external_id,
    ]
