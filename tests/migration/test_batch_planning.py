"""Planning a migration batch (`migration/batches/planning.py`, `selection.py`, `impact.py`):
who is selected, what each customer moves to, the sessions its minutes come to, and nothing
written."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.errors import InvalidInput
from accounts.models import BatchKind, CustomerStatus
from billing.models import StripePriceMove
from migration.batches.apply import migration_run
from migration.batches.planning import migration_plan
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.support import HISTORY, NOW, database_state, legacy_customer
from tests.usage.factories import MonthlyUsageFactory

pytestmark = pytest.mark.usefixtures("frozen_clock")


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
def test_minutes_history_ignores_other_months_and_failed_minutes():
    customer = legacy_customer("legacy_pro", minutes=("4000",), history=HISTORY)
    # This month (partial) and a month before the window do not count.
    MonthlyUsageFactory(
        customer=customer, period=NOW.date().replace(day=1), billable_minutes=Decimal(99999)
    )
    MonthlyUsageFactory(
        customer=customer, period=datetime(2026, 7, 1).date(), billable_minutes=Decimal(99999)
    )
    row = migration_plan(kind=BatchKind.REMAP).rows[0]
    assert row.minutes == (Decimal(4000), Decimal(0), Decimal(0))
    assert row.estimated_sessions == (2000, 0, 0)


@pytest.mark.django_db
def test_recorded_sessions_are_used_where_the_old_system_recorded_them():
    """Issue 12, point 4: 2 minutes a session would say 1,200 sessions for 2,400 minutes, but
    5,600 sessions were recorded (short calls): the customer would exceed Starter's 5,000.
    Failed sessions do not count; a month with minutes only is still estimated."""
    customer = legacy_customer("legacy_build", minutes=("2400", "2400", "3000"), history=HISTORY)
    first, second, _ = HISTORY
    customer.monthly_usage.filter(period=first.start).update(
        total_sessions=5700, successful_sessions=5600, failed_sessions=100
    )
    customer.monthly_usage.filter(period=second.start).update(
        total_sessions=900, successful_sessions=900
    )
    plan_ = migration_plan(kind=BatchKind.REMAP)
    (row,) = plan_.rows
    assert row.destination.code == "starter"
    assert row.estimated_sessions == (5600, 900, 1500)
    assert row.would_exceed
    assert plan_.totals["would_exceed"] == 1


@pytest.mark.django_db
def test_the_dry_run_shows_a_scheduled_plan_change_that_still_follows_the_batch():
    # The batch does not cancel a move scheduled for the end of the paid period (a customer's
    # downgrade, or staff's): the dry run says which customers it will still take elsewhere.
    end_of_period = datetime(2026, 12, 1, tzinfo=UTC)
    leaving = legacy_customer(
        "legacy_pro", pending_plan=plan("starter"), pending_plan_at=end_of_period
    )
    staying = legacy_customer("legacy_pro", pending_plan=plan("growth"), pending_plan_at=NOW)
    plain = legacy_customer("legacy_pro")
    out = StringIO()
    call_command("migrate_to_sessions", "--dry-run", "--now", stdout=out, stderr=StringIO())
    plan_ = migration_plan(kind=BatchKind.REMAP)
    lines = {row.row.external_id: row.describe(plan_.plans) for row in plan_.rows}
    assert lines[leaving.external_id] == (
        "moves now to Growth; a move to Starter on 2026-12-01, scheduled before this batch, "
        "still follows"
    )
    # Already the batch's destination: nothing follows.
    assert lines[staying.external_id] == lines[plain.external_id] == "moves now to Growth"
    assert plan_.totals["scheduled_moves_follow"] == 1
    printed = out.getvalue()
    assert "a move to Starter on 2026-12-01, scheduled before this batch, still follows" in printed
    assert "Then moved by a plan change scheduled before this batch (not cancelled by it): 1" in (
        printed
    )


@pytest.mark.django_db
def test_the_dry_run_says_when_a_scheduled_change_comes_before_the_grandfathered_move():
    soon = legacy_customer(
        "legacy_pro",
        pending_plan=plan("starter"),
        pending_plan_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    late = legacy_customer(
        "legacy_pro", pending_plan=plan("starter"), pending_plan_at=datetime(2027, 6, 1, tzinfo=UTC)
    )
    plan_ = migration_plan(kind=BatchKind.GRANDFATHER)  # until 2027-02-15
    lines = {row.row.external_id: row.describe(plan_.plans) for row in plan_.rows}
    assert lines[soon.external_id] == (
        "keeps Pro (minutes, legacy) until 2027-02-15, then Growth; a move to Starter on "
        "2026-12-01, scheduled before this batch, comes first and ends the grandfathering"
    )
    assert lines[late.external_id].endswith(
        "a move to Starter on 2027-06-01, scheduled before this batch, still follows"
    )


@pytest.mark.django_db
def test_the_dry_run_counts_the_stripe_subscriptions_that_applying_moves():
    """An ended subscription has no price left to move: applying queues no move for it, and
    the dry run does not count it either."""
    paying = legacy_customer(
        "legacy_pro", stripe_customer_id="cus_1", stripe_subscription_id="sub_1"
    )
    legacy_customer(
        "legacy_pro",
        status=CustomerStatus.CANCELED,
        stripe_customer_id="cus_2",
        stripe_subscription_id="sub_2",
    )
    selection = CustomerSelection()  # every legacy customer
    dry = migration_plan(kind=BatchKind.REMAP, selection=selection)
    batch = migration_run(kind=BatchKind.REMAP, selection=selection)
    moves = StripePriceMove.objects.filter(batch=batch)
    assert list(moves.values_list("subscription_id", flat=True)) == [paying.stripe_subscription_id]
    assert dry.totals["stripe_subscriptions"] == moves.count() == 1
