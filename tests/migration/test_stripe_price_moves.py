"""The Stripe price moves outbox as bulk plan changes write it (the sending is tested through
the stand-in in `test_stripe_price_moves_standin.py`)."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import BatchKind, PlanChange
from billing.models import PriceMoveStatus, StripePriceMove
from migration.batches.apply import migration_run
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import plan
from tests.migration.support import legacy_customer

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def priced_plans(settings):
    settings.STRIPE_PRICE_STARTER = settings.STRIPE_PRICE_GROWTH = ""
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
class TestOutbox:
    def test_moves_are_recorded_with_the_plan_change_and_sent_only_after_commit(
        self, django_capture_on_commit_callbacks
    ):
        subscriber = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        legacy_customer("legacy_pro")  # no subscription: nothing to move in Stripe
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            batch = migration_run(kind=BatchKind.REMAP, actor="t")
        assert len(callbacks) == 1
        change = PlanChange.objects.get(batch=batch, customer=subscriber)
        move = StripePriceMove.objects.get()
        assert (
            move.plan_change_id,
            move.batch_id,
            move.subscription_id,
            move.from_price_id,
            move.to_price_id,
            move.idempotency_key,
            move.status,
            move.attempts,
        ) == (
            change.pk,
            batch.pk,
            "sub_1",
            "price_build",
            "price_starter",
            f"plan-change-{change.pk}-price",
            PriceMoveStatus.PENDING,
            0,
        )
        assert batch.report["stripe_price_moves"] == 1

    @pytest.mark.parametrize("kind", [BatchKind.GRANDFATHER, BatchKind.EXEMPT])
    def test_operations_that_keep_the_plan_record_no_move(self, kind):
        legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        with time_machine.travel(NOW, tick=False):
            migration_run(kind=kind, actor="t")
        assert PlanChange.objects.count() == 1
        assert not StripePriceMove.objects.exists()

    def test_extend_records_no_move(self):
        customer = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        selection = CustomerSelection(customer_ids=(customer.pk,))
        with time_machine.travel(NOW, tick=False):
            migration_run(kind=BatchKind.GRANDFATHER, selection=selection, actor="t")
            migration_run(
                kind=BatchKind.EXTEND, selection=selection, grandfather_months=2, actor="t"
            )
        assert PlanChange.objects.count() == 2
        assert not StripePriceMove.objects.exists()

    def test_a_target_plan_without_price_is_failed_with_what_to_do(self, admin_client):
        starter = plan("starter")
        starter.stripe_price_id = ""
        starter.save()
        legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        migration_run(kind=BatchKind.REMAP, actor="t")
        move = StripePriceMove.objects.get()
        assert move.status == PriceMoveStatus.FAILED
        assert "Plan starter (Starter) has no Stripe price id" in move.last_error
        out = StringIO()
        call_command("stripe_price_moves", "--dry-run", stdout=out)
        assert "sub_1: price_build → (no price id) [failed, 0 attempt(s)]" not in out.getvalue()
        assert "1 failed (needs staff)" in out.getvalue()
        out = StringIO()
        call_command("stripe_price_moves", "--dry-run", "--retry", stdout=out)
        assert "sub_1: price_build → (no price id) [failed, 0 attempt(s)]" in out.getvalue()
        assert "Dry run: nothing sent." in out.getvalue()
        page = admin_client.get("/admin/billing/stripepricemove/").content.decode()
        assert "sub_1" in page and "has no Stripe price id" in page
