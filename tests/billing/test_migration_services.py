from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from accounts.errors import Conflict, InvalidInput
from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    EmailNotification,
    MigrationBatch,
    PlanChange,
)
from accounts.services.plan_change import customer_state
from migration.batches.apply import migration_batch_apply, migration_batch_create, migration_run
from migration.batches.impact import history_periods
from migration.batches.notices import migration_notices_send
from migration.batches.planning import migration_plan
from migration.batches.selection import CustomerSelection
from tests.billing.migration_support import database_state, legacy_customer, migration_fields
from tests.factories import CustomerFactory, plan

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
HISTORY = history_periods(NOW)


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
class TestPlan:
    def test_history_is_the_three_full_months_before_this_one(self):
        assert [p.label for p in HISTORY] == ["2026-08", "2026-09", "2026-10"]

    def test_report_per_customer_estimates_sessions_and_flags(self):
        build = legacy_customer("legacy_build", minutes=("2000", "2999", "10001"), history=HISTORY)
        agency = legacy_customer("legacy_agency", minutes=("100", "0", "3"), history=HISTORY)
        free = legacy_customer("legacy_free")
        plan_ = migration_plan(kind=BatchKind.GRANDFATHER)
        rows = {row.row.external_id: row for row in plan_.rows}
        b = rows[build.external_id]
        assert (b.from_plan.code, b.destination.code) == ("legacy_build", "starter")
        # minutes / 2 per session, rounded up; 10,001 min ≈ 5,001 sessions > 5,000
        assert b.estimated_sessions == (1000, 1500, 5001)
        assert b.pays_more and b.would_exceed
        a = rows[agency.external_id]
        assert a.destination.code == "growth"
        assert a.estimated_sessions == (50, 0, 2)
        assert not a.pays_more and not a.would_exceed  # $99 → $99
        f = rows[free.external_id]
        assert f.destination.code == "free" and f.estimated_sessions == (0, 0, 0)
        assert f.move_at == datetime(2027, 2, 15, 12, 0, tzinfo=UTC)

        totals = plan_.totals
        assert totals["selected"] == 3 and totals["changing"] == 3
        assert totals["moves"] == {
            "legacy_agency → growth": 1,
            "legacy_build → starter": 1,
            "legacy_free → free": 1,
        }
        assert totals["pays_more"] == 1 and totals["would_exceed"] == 1
        assert totals["monthly_revenue_before_cents"] == 1900 + 9900
        assert totals["monthly_revenue_after_cents"] == 2900 + 9900

    def test_default_selection_is_every_legacy_customer_and_skips_are_reported(self):
        legacy_customer("legacy_pro")
        legacy_customer("legacy_pro", migration_exempt=True)
        CustomerFactory(plan=plan("starter"))
        plan_ = migration_plan(kind=BatchKind.REMAP)
        assert plan_.totals["selected"] == 2
        assert plan_.totals["skipped_by_reason"] == {"exempt from migration": 1}

    def test_selection_by_plans_and_by_user_ids(self):
        build = legacy_customer("legacy_build")
        pro = legacy_customer("legacy_pro")
        by_plan = migration_plan(
            kind=BatchKind.REMAP, selection=CustomerSelection(plan_codes=("legacy_build",))
        )
        assert [r.row.external_id for r in by_plan.rows] == [build.external_id]
        by_id = migration_plan(
            kind=BatchKind.REMAP, selection=CustomerSelection(external_ids=(pro.external_id,))
        )
        assert [r.row.external_id for r in by_id.rows] == [pro.external_id]
        both = migration_plan(
            kind=BatchKind.REMAP,
            selection=CustomerSelection(
                plan_codes=("legacy_build",), external_ids=(pro.external_id,)
            ),
        )
        assert both.rows[0].skip_reason == "not on the selected plans"

    @pytest.mark.parametrize(
        ("selection", "message"),
        [
            (CustomerSelection(plan_codes=("nope",)), "Unknown plan"),
            (CustomerSelection(plan_codes=("starter",)), "Not a legacy plan"),
            (CustomerSelection(external_ids=("ghost",)), "No customer with id ghost"),
        ],
    )
    def test_bad_selection_is_a_clear_error(self, selection, message):
        with pytest.raises(InvalidInput, match=message):
            migration_plan(kind=BatchKind.REMAP, selection=selection)

    def test_grandfather_months_out_of_range_is_refused(self):
        with pytest.raises(InvalidInput, match="Months"):
            migration_plan(kind=BatchKind.GRANDFATHER, grandfather_months=0)

    def test_planning_changes_nothing(self):
        legacy_customer("legacy_build", minutes=("10", "20", "30"), history=HISTORY)
        legacy_customer("legacy_pro", grandfathered_until=NOW, grandfather_plan=plan("growth"))
        before = database_state()
        for kind in (BatchKind.REMAP, BatchKind.GRANDFATHER, BatchKind.EXEMPT, BatchKind.EXTEND):
            migration_plan(kind=kind, grandfather_months=2)
        assert database_state() == before


@pytest.mark.django_db
class TestApply:
    def test_grandfather_records_snapshots_equal_to_customer_state(self):
        customer = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        before = customer_state(Customer.objects.get(pk=customer.pk))
        batch = migration_run(
            kind=BatchKind.GRANDFATHER, grandfather_months=3, actor="tester", reason="move"
        )
        after = customer_state(Customer.objects.get(pk=customer.pk))
        change = PlanChange.objects.get(batch=batch)
        assert change.state_before == before
        assert change.state_after == after
        assert after["grandfathered_until"] == "2027-02-15T12:00:00+00:00"
        assert after["grandfather_plan"] == "starter"
        assert change.source == ChangeSource.MIGRATION and change.actor == "tester"
        assert change.reason == "move"
        assert change.from_plan.code == change.to_plan.code == "legacy_build"
        batch.refresh_from_db()
        assert batch.status == BatchStatus.APPLIED and batch.changed_count == 1
        assert batch.mapping == {"legacy_build": "starter"}
        assert batch.report["totals"]["changing"] == 1
        assert batch.report["rows"][0][0] == customer.external_id

    def test_remap_moves_now_and_ends_grandfathering(self):
        waiting = legacy_customer(
            "legacy_pro", grandfathered_until=NOW, grandfather_plan=plan("growth")
        )
        plain = legacy_customer("legacy_starter")
        batch = migration_run(kind=BatchKind.REMAP, actor="tester")
        assert migration_fields(waiting) == ("growth", None, None, False)
        assert migration_fields(plain) == ("starter", None, None, False)
        changes = PlanChange.objects.filter(batch=batch)
        assert {(c.from_price_cents, c.to_price_cents) for c in changes} == {
            (3900, 9900),
            (900, 2900),
        }

    def test_many_customers_are_written_with_grouped_updates(self, django_assert_max_num_queries):
        customers = [legacy_customer("legacy_build") for _ in range(60)]
        with django_assert_max_num_queries(20):
            migration_run(kind=BatchKind.GRANDFATHER, actor="tester")
        assert Customer.objects.filter(grandfather_plan__code="starter").count() == 60
        assert PlanChange.objects.filter(customer__in=customers).count() == 60

    def test_extend_adds_months_to_each_customers_own_date(self):
        a = legacy_customer(
            "legacy_pro",
            grandfathered_until=datetime(2026, 12, 31, tzinfo=UTC),
            grandfather_plan=plan("growth"),
        )
        b = legacy_customer(
            "legacy_build",
            grandfathered_until=datetime(2027, 1, 10, tzinfo=UTC),
            grandfather_plan=plan("starter"),
        )
        c = legacy_customer("legacy_build")
        migration_run(
            kind=BatchKind.EXTEND,
            selection=CustomerSelection(customer_ids=(a.pk, b.pk, c.pk)),
            grandfather_months=2,
            actor="tester",
        )
        assert migration_fields(a)[1] == datetime(2027, 2, 28, tzinfo=UTC)
        assert migration_fields(b)[1] == datetime(2027, 3, 10, tzinfo=UTC)
        assert migration_fields(c)[1] is None

    def test_exempt_cancels_grandfathering_and_remove_exemption_undoes_the_flag(self):
        customer = legacy_customer(
            "legacy_pro", grandfathered_until=NOW, grandfather_plan=plan("growth")
        )
        selection = CustomerSelection(customer_ids=(customer.pk,))
        migration_run(kind=BatchKind.EXEMPT, selection=selection, actor="tester")
        assert migration_fields(customer) == ("legacy_pro", None, None, True)
        migration_run(kind=BatchKind.REMOVE_EXEMPTION, selection=selection, actor="tester")
        assert migration_fields(customer) == ("legacy_pro", None, None, False)

    def test_end_grandfathering_moves_to_the_announced_plan(self):
        customer = legacy_customer(
            "legacy_build",
            grandfathered_until=datetime(2027, 1, 1, tzinfo=UTC),
            grandfather_plan=plan("growth"),  # announced growth, not the mapping's starter
        )
        migration_run(
            kind=BatchKind.END_GRANDFATHERING,
            selection=CustomerSelection(customer_ids=(customer.pk,)),
            actor="tester",
        )
        assert migration_fields(customer) == ("growth", None, None, False)

    def test_planned_batch_is_applied_later_against_current_data(self):
        first = legacy_customer("legacy_build")
        batch = migration_batch_create(kind=BatchKind.GRANDFATHER, actor="tester")
        assert batch.status == BatchStatus.PLANNED and batch.changed_count == 1
        assert PlanChange.objects.filter(batch=batch).count() == 0
        second = legacy_customer("legacy_pro")  # arrived after the dry run
        migration_batch_apply(batch=batch)
        batch.refresh_from_db()
        assert batch.status == BatchStatus.APPLIED and batch.changed_count == 2
        assert {first.pk, second.pk} == set(
            PlanChange.objects.filter(batch=batch).values_list("customer_id", flat=True)
        )
        with pytest.raises(Conflict):
            migration_batch_apply(batch=batch)

    def test_notify_sends_one_notice_per_customer_after_commit_and_never_twice(
        self, django_capture_on_commit_callbacks
    ):
        customer = legacy_customer("legacy_build", email="build@example.com")
        legacy_customer("legacy_pro", email="")  # no address: nothing recorded
        with django_capture_on_commit_callbacks(execute=True):
            migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["build@example.com"]
        assert message.subject == "Your AI-Gate plan moves to Starter on February 15, 2027"
        assert "5,000 sessions" in message.body and "$29/month" in message.body
        assert "February 15, 2027" in message.alternatives[0][0]
        notification = EmailNotification.objects.get(customer=customer)
        assert notification.dedupe_key == "move-2027-02-15" and notification.sent_at
        # Sending the notice again for the same move date sends nothing more.
        with django_capture_on_commit_callbacks(execute=True):
            again = migration_notices_send(selection=CustomerSelection(customer_ids=(customer.pk,)))
        assert again.rows[0].skip_reason == "already notified of this date"
        assert len(mail.outbox) == 1
        assert EmailNotification.objects.count() == 1

    def test_remap_now_with_notify_sends_moved(self, django_capture_on_commit_callbacks):
        legacy_customer("legacy_pro", email="pro@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            batch = migration_run(kind=BatchKind.REMAP, notify=True, actor="tester")
        assert [m.subject for m in mail.outbox] == ["You're now on AI-Gate Growth"]
        message = mail.outbox[0]
        assert "from Pro (minutes, legacy) to Growth" in message.body
        assert "20,000 sessions a month (about 40,000 minutes)" in message.body
        assert "$99/month" in message.body
        html = message.alternatives[0][0]
        assert "<strong>20,000 sessions</strong>" in html and "$99/month" in html
        assert EmailNotification.objects.get().dedupe_key == f"batch-{batch.pk}"

    def test_a_failed_apply_leaves_nothing_behind(self, monkeypatch):
        legacy_customer("legacy_build")
        before = database_state()

        def explode(*args, **kwargs):
            raise RuntimeError("disk full")

        # Fails after the customers were written, before their audit rows: all rolls back.
        monkeypatch.setattr("migration.batches.apply.plan_changes_record", explode)
        with pytest.raises(RuntimeError):
            migration_run(kind=BatchKind.GRANDFATHER, actor="tester")
        assert database_state() == before
        assert not MigrationBatch.objects.exists()


@pytest.mark.django_db
def test_minutes_history_ignores_other_months_and_failed_minutes():
    customer = legacy_customer("legacy_pro", minutes=("4000",), history=HISTORY)
    from usage.models import MonthlyUsage

    # This month (partial) and a month before the window do not count.
    MonthlyUsage.objects.create(
        customer=customer, period=NOW.date().replace(day=1), billable_minutes=Decimal(99999)
    )
    MonthlyUsage.objects.create(
        customer=customer, period=datetime(2026, 7, 1).date(), billable_minutes=Decimal(99999)
    )
    row = migration_plan(kind=BatchKind.REMAP).rows[0]
    assert row.minutes == (Decimal(4000), Decimal(0), Decimal(0))
    assert row.estimated_sessions == (2000, 0, 0)
