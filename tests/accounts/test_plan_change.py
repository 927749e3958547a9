"""The one plan-change service (`accounts/services/plan_change.py`): one snapshot builder, no
audit row for a change that changes nothing, bulk audit rows with one `plan_changed`, and the
Stripe price move a paying customer's change records in the same transaction."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from accounts.errors import InvalidInput
from accounts.models import BatchKind, ChangeSource, Customer, PlanChange
from accounts.services.plan_change import (
    CustomerRow,
    Transition,
    customer_change_plan,
    customer_set_migration_state,
    customer_state,
    plan_changed,
    plan_changes_record,
    state_snapshot,
)
from accounts.services.scheduled_plan import customer_schedule_plan
from billing.models import PriceMoveStatus, StripePriceMove
from billing.services.stripe_price_moves import send_price_moves
from tests.accounts.factories import CustomerFactory, MigrationBatchFactory, plan

pytestmark = pytest.mark.django_db

UNTIL = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def priced_plans(settings):
    """Stripe prices on the plans (none from the environment)."""
    settings.STRIPE_PRICE_STARTER = settings.STRIPE_PRICE_GROWTH = ""
    for code in ("legacy_build", "starter"):
        row = plan(code)
        row.stripe_price_id = f"price_{code}"
        row.save(update_fields=["stripe_price_id"])


class Rollback(Exception):
    pass


class TestStripePriceMove:
    @pytest.mark.parametrize("source", [ChangeSource.ADMIN, ChangeSource.COMMAND])
    def test_a_subscribers_change_records_its_price_move(
        self, priced_plans, source, django_capture_on_commit_callbacks
    ):
        customer = CustomerFactory(plan=plan("legacy_build"), stripe_subscription_id="sub_1")
        with django_capture_on_commit_callbacks() as callbacks:
            change = customer_change_plan(
                customer=customer, plan=plan("starter"), source=source, actor="t", reason="asked"
            )
        move = StripePriceMove.objects.get()
        assert (
            move.plan_change_id,
            move.subscription_id,
            move.from_price_id,
            move.to_price_id,
            move.status,
        ) == (change.pk, "sub_1", "price_legacy_build", "price_starter", PriceMoveStatus.PENDING)
        assert len(callbacks) == 1  # sent to Stripe once the change has committed

    def test_the_move_is_written_in_the_plan_changes_transaction(self, priced_plans):
        customer = CustomerFactory(plan=plan("legacy_build"), stripe_subscription_id="sub_1")
        with pytest.raises(Rollback), transaction.atomic():
            change = customer_change_plan(
                customer=customer,
                plan=plan("starter"),
                source=ChangeSource.ADMIN,
                actor="t",
                reason="asked",
            )
            assert StripePriceMove.objects.filter(plan_change=change).exists()
            raise Rollback
        assert not PlanChange.objects.exists()
        assert not StripePriceMove.objects.exists()

    @pytest.mark.parametrize("source", [ChangeSource.WEBHOOK, ChangeSource.IMPORT])
    def test_a_change_that_follows_stripe_or_the_old_system_records_none(
        self, priced_plans, source
    ):
        customer = CustomerFactory(plan=plan("legacy_build"), stripe_subscription_id="sub_1")
        change = customer_change_plan(
            customer=customer, plan=plan("starter"), source=source, actor="t"
        )
        assert change is not None
        assert not StripePriceMove.objects.exists()


def test_customer_state_is_the_one_snapshot_builders_for_a_grandfathered_customer():
    CustomerFactory(
        plan=plan("legacy_pro"),
        stripe_subscription_id="sub_1",
        grandfathered_until=UNTIL,
        grandfather_plan=plan("growth"),
    )
    customer = Customer.objects.select_related("plan", "grandfather_plan").get()
    row = CustomerRow.of(customer)
    plans = {p.pk: p for p in (plan("legacy_pro"), plan("growth"))}
    snapshot = customer_state(customer)
    assert snapshot == state_snapshot(row, row.state, plans)
    assert (snapshot["grandfathered_until"], snapshot["grandfather_plan"]) == (
        "2027-02-15T12:00:00+00:00",
        "growth",
    )


class TestNothingChanged:
    def test_the_same_plan_returns_none_and_records_nothing(self):
        customer = CustomerFactory(plan=plan("starter"))
        change = customer_change_plan(
            customer=customer,
            plan=plan("starter"),
            source=ChangeSource.ADMIN,
            actor="t",
            reason="x",
        )
        assert change is None
        assert not PlanChange.objects.exists()

    def test_the_same_migration_state_returns_none_and_records_nothing(self):
        customer = CustomerFactory(
            plan=plan("legacy_pro"), grandfathered_until=UNTIL, grandfather_plan=plan("growth")
        )
        change = customer_set_migration_state(
            customer=customer,
            source=ChangeSource.MIGRATION,
            actor="t",
            grandfathered_until=UNTIL,
            grandfather_plan=plan("growth"),
        )
        assert change is None
        assert not PlanChange.objects.exists()


def test_recording_300_transitions_writes_300_rows_and_sends_plan_changed_once():
    legacy, starter = plan("legacy_build"), plan("starter")
    plans = {legacy.pk: legacy, starter.pk: starter}
    customers = Customer.objects.bulk_create(CustomerFactory.build_batch(300, plan=legacy))
    transitions = []
    for customer in customers:
        row = CustomerRow.of(customer)
        transitions.append(
            Transition.of_states(row, row.state, row.state.replace(plan_id=starter.pk), plans)
        )
    batch = MigrationBatchFactory(kind=BatchKind.REMAP)
    sent = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    plan_changed.connect(receiver, dispatch_uid="test_plan_change.receiver")
    try:
        records = plan_changes_record(
            transitions, source=ChangeSource.MIGRATION, actor="staff", reason="move", batch=batch
        )
    finally:
        plan_changed.disconnect(dispatch_uid="test_plan_change.receiver")

    assert len(records) == 300
    rows = PlanChange.objects.filter(batch=batch)
    assert rows.count() == 300
    assert set(rows.values_list("source", "actor", "reason", "from_plan", "to_plan")) == {
        (ChangeSource.MIGRATION, "staff", "move", legacy.pk, starter.pk)
    }
    assert set(rows.values_list("customer_id", flat=True)) == {c.pk for c in customers}
    [signal] = sent
    assert len(signal["records"]) == 300
    assert {r.plan_change_id for r in signal["records"]} == set(rows.values_list("pk", flat=True))
    assert (signal["batch"], signal["source"]) == (batch, ChangeSource.MIGRATION)


def test_a_large_batchs_price_moves_are_queued_in_chunks_that_workers_share(priced_plans, settings):
    """60 subscribers moved in one batch: their moves are queued as 3 tasks of 25, 25 and 10
    plan changes, in the batch's transaction, so that several workers send them at once."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    customers = CustomerFactory.create_batch(60, plan=plan("legacy_build"))
    for number, customer in enumerate(customers):
        customer.stripe_subscription_id = f"sub_{number}"
    batch = MigrationBatchFactory(kind=BatchKind.REMAP)
    legacy, starter = plan("legacy_build"), plan("starter")
    plans = {legacy.pk: legacy, starter.pk: starter}
    rows = [CustomerRow.of(customer) for customer in customers]
    records = plan_changes_record(
        [
            Transition.of_states(row, row.state, row.state.replace(plan_id=starter.pk), plans)
            for row in rows
        ],
        source=ChangeSource.MIGRATION,
        actor="t",
        batch=batch,
    )

    queued = DBTaskResult.objects.filter(task_path=send_price_moves.module_path)
    chunks = [row.args_kwargs["args"] for row in queued.order_by("enqueued_at")]
    assert [len(changes) for _, changes in chunks] == [25, 25, 10]
    assert {batch_id for batch_id, _ in chunks} == {batch.pk}
    assert sorted(c for _, changes in chunks for c in changes) == sorted(
        record.plan_change_id for record in records
    )
    assert StripePriceMove.objects.filter(batch=batch).count() == 60


@pytest.mark.django_db
def test_a_plan_change_reads_as_staff_say_it():
    """Not "5: 7 → 7 (system)": plans by name, who, when and why."""
    # A subscriber: a non-paying customer moved by staff reads "(complimentary)" as well.
    customer = CustomerFactory(plan=plan("starter"), stripe_subscription_id="sub_1")
    with time_machine.travel(datetime(2026, 12, 3, 10, 0, tzinfo=UTC), tick=False):
        change = customer_change_plan(
            customer=customer,
            plan=plan("growth"),
            source=ChangeSource.ADMIN,
            actor="alice",
            reason="goodwill",
        )
    assert str(change) == "Starter → Growth · by alice · 3 Dec 2026 · goodwill"


@pytest.mark.parametrize("schedule", [False, True])
@pytest.mark.parametrize("source", [ChangeSource.ADMIN, ChangeSource.COMMAND])
def test_staff_need_a_reason_that_is_more_than_blanks_and_it_is_kept_trimmed(source, schedule):
    customer = CustomerFactory(plan=plan("free"))
    change = customer_schedule_plan if schedule else customer_change_plan
    extra = {"effective_at": UNTIL} if schedule else {}
    with pytest.raises(InvalidInput, match="reason is required"):
        change(
            customer=customer, plan=plan("growth"), source=source, actor="t", reason=" \n", **extra
        )
    assert not PlanChange.objects.exists()
    change(
        customer=customer, plan=plan("growth"), source=source, actor="t", reason=" asked ", **extra
    )
    assert PlanChange.objects.get().reason == "asked"
