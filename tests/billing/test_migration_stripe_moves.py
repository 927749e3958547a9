"""What the Stripe side of a batch will be asked to do (the gateway itself is issue 3's)."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from billing.models import BatchKind, PlanChange
from billing.services.migration import (
    CustomerSelection,
    StripePriceMove,
    migration_batch_rollback,
    migration_run,
)
from tests.billing.migration_support import legacy_customer
from tests.factories import plan

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def moves_seen(monkeypatch):
    seen: list[list[StripePriceMove]] = []
    monkeypatch.setattr("billing.services.migration._stripe_price_moves_after_commit", seen.append)
    return seen


@pytest.fixture
def priced_plans():
    for code, price in [
        ("legacy_build", "price_build"),
        ("legacy_pro", "price_pro"),
        ("starter", "price_starter"),
        ("growth", "price_growth"),
    ]:
        p = plan(code)
        p.stripe_price_id = price
        p.save()


@pytest.mark.django_db
@pytest.mark.usefixtures("priced_plans")
class TestStripePriceMoves:
    def test_plan_changes_of_subscribers_are_queued_after_commit_only(
        self, moves_seen, django_capture_on_commit_callbacks
    ):
        subscriber = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        legacy_customer("legacy_pro")  # no subscription: nothing to move in Stripe
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            batch = migration_run(kind=BatchKind.REMAP, actor="t")
        assert moves_seen == []  # nothing before commit
        for callback in callbacks:
            callback()
        change = PlanChange.objects.get(batch=batch, customer=subscriber)
        assert moves_seen == [
            [
                StripePriceMove(
                    plan_change_id=change.pk,
                    customer_id=subscriber.pk,
                    subscription_id="sub_1",
                    from_price_id="price_build",
                    to_price_id="price_starter",
                )
            ]
        ]
        assert moves_seen[0][0].idempotency_key == f"plan-change-{change.pk}-price"
        assert change.state_before["stripe_price_id"] == "price_build"
        assert change.state_after["stripe_price_id"] == "price_starter"

    def test_grandfathering_moves_nothing_until_it_ends(
        self, moves_seen, django_capture_on_commit_callbacks
    ):
        legacy_customer("legacy_pro", stripe_subscription_id="sub_2")
        with time_machine.travel(NOW, tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                migration_run(kind=BatchKind.GRANDFATHER, actor="t")
            assert moves_seen == []
        with (
            time_machine.travel(NOW + timedelta(days=100), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            call_command("apply_grandfathering", stdout=StringIO())
        assert [(m.subscription_id, m.to_price_id) for m in moves_seen[0]] == [
            ("sub_2", "price_growth")
        ]

    def test_rollback_moves_the_subscription_back(
        self, moves_seen, django_capture_on_commit_callbacks
    ):
        customer = legacy_customer("legacy_build", stripe_subscription_id="sub_3")
        with django_capture_on_commit_callbacks(execute=True):
            batch = migration_run(
                kind=BatchKind.REMAP,
                selection=CustomerSelection(customer_ids=(customer.pk,)),
                actor="t",
            )
            migration_batch_rollback(batch=batch, actor="t")
        back = moves_seen[-1][0]
        assert (back.from_price_id, back.to_price_id) == ("price_starter", "price_build")


@pytest.mark.django_db
def test_usage_api_shows_grandfathering_end_and_next_plan(service_key):
    customer = legacy_customer("legacy_pro", external_id="gf-user")
    with time_machine.travel(NOW, tick=False):
        migration_run(kind=BatchKind.GRANDFATHER, actor="t")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
        body = client.get("/billing/usage", {"user_id": customer.external_id}).json()
    assert body["plan"] == "legacy_pro"
    assert body["grandfatheredUntil"] == "2027-02-15T12:00:00Z"
    assert body["nextPlan"] == "growth"
