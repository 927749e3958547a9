"""The calibration report: minutes ÷ sessions of each customer-month of the last three full
months where both were recorded, overall and per plan, median and 90th percentile; and "use
this figure", which measures again and stores the figure, audited."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.errors import Conflict, InvalidInput
from accounts.estimates import minutes_per_session
from accounts.models import MinutesPerSessionChange
from tests.accounts.factories import CustomerFactory, plan
from tests.usage.factories import MonthlyUsageFactory
from usage.calibration import (
    ALL_PLANS,
    calibration_report,
    minutes_per_session_use_measured,
    percentile,
    to_cents,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]

AUG, SEP, OCT, NOV = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


def month(customer, period, *, sessions, minutes, failed=0):
    return MonthlyUsageFactory(
        customer=customer,
        period=period,
        total_sessions=sessions + failed,
        successful_sessions=sessions,
        failed_sessions=failed,
        total_minutes=Decimal(minutes),
        billable_minutes=Decimal(minutes),
    )


@pytest.fixture
def measured():
    """Starter customers at 1, 2, 3 and 4 minutes per session; a legacy Pro one at 2."""
    starters = [CustomerFactory(plan=plan("starter")) for _ in range(2)]
    month(starters[0], AUG, sessions=10, minutes="10")
    month(starters[0], SEP, sessions=10, minutes="20")
    month(starters[1], OCT, sessions=10, minutes="30")
    month(starters[1], AUG, sessions=10, minutes="40")
    pro = CustomerFactory(plan=plan("legacy_pro"))
    month(pro, SEP, sessions=100, minutes="200", failed=30)  # failed sessions do not count
    return starters, pro


def test_percentiles_interpolate_between_the_closest_ranks():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.5
    assert to_cents(percentile(values, 0.9)) == Decimal("3.70")
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None
    assert to_cents(2.3549999999999995) == Decimal("2.36")  # (2.31 + 2.40) / 2, half up


def test_overall_and_per_plan_with_sample_sizes(measured):
    report = calibration_report()
    assert report.months == ["2026-08", "2026-09", "2026-10"]
    overall = report.overall
    assert (overall.customer_months, overall.customers, overall.sessions) == (5, 3, 140)
    assert (overall.median, overall.p90) == (Decimal("2.00"), Decimal("3.60"))
    assert overall.mean == Decimal("2.14")  # 300 minutes / 140 sessions
    by_plan = {sample.scope: sample for sample in report.per_plan}
    assert list(by_plan) == ["starter", "legacy_pro"]
    starter = by_plan["starter"]
    assert (starter.customer_months, starter.customers, starter.sessions) == (4, 2, 40)
    assert (starter.median, starter.p90, starter.mean) == (
        Decimal("2.50"),
        Decimal("3.70"),
        Decimal("2.50"),
    )
    assert (by_plan["legacy_pro"].median, by_plan["legacy_pro"].p90) == (
        Decimal("2.00"),
        Decimal("2.00"),
    )


def test_only_full_months_that_measured_both_count(measured):
    other = CustomerFactory(plan=plan("growth"))
    month(other, NOV, sessions=10, minutes="90")  # this month: not over yet
    month(other, date(2026, 7, 1), sessions=10, minutes="90")  # before the three months
    month(other, OCT, sessions=0, minutes="500")  # the old system's minutes only
    month(other, SEP, sessions=40, minutes="0")  # sessions never ended
    report = calibration_report()
    assert report.overall.customer_months == 5
    assert report.skipped_months == 2
    assert "growth" not in {sample.scope for sample in report.per_plan}


def test_nothing_measured_gives_no_figure():
    report = calibration_report()
    assert (report.overall.customer_months, report.overall.median, report.per_plan) == (0, None, [])
    with pytest.raises(InvalidInput, match="nothing to use"):
        minutes_per_session_use_measured(actor="admin:alice")
    assert not MinutesPerSessionChange.objects.exists()


def test_use_this_figure_stores_it_with_its_sample(measured):
    change = minutes_per_session_use_measured(
        scope="starter", statistic="p90", actor="admin:alice", expected="3.70"
    )
    assert (change.previous_value, change.value, change.actor) == (
        Decimal("2.00"),
        Decimal("3.70"),
        "admin:alice",
    )
    assert change.reason == "Measured: p90 of starter"
    assert change.sample == {
        "scope": "starter",
        "statistic": "p90",
        "months": ["2026-08", "2026-09", "2026-10"],
        "customer_months": 4,
        "customers": 2,
        "sessions": 40,
        "minutes": "100.00",
        "median": "2.50",
        "p90": "3.70",
    }
    assert minutes_per_session() == Decimal("3.70")


def test_a_figure_that_moved_since_the_page_was_shown_is_not_used(measured):
    with pytest.raises(Conflict, match=r"now 2\.00"):
        minutes_per_session_use_measured(actor="admin:alice", expected="2.29")
    assert not MinutesPerSessionChange.objects.exists()


@pytest.mark.parametrize(
    ("scope", "statistic", "expected"),
    [("growth", "median", None), (ALL_PLANS, "mean", None), (ALL_PLANS, "median", "abc")],
)
def test_unknown_scope_statistic_or_figure_is_refused(measured, scope, statistic, expected):
    with pytest.raises(InvalidInput):
        minutes_per_session_use_measured(
            scope=scope, statistic=statistic, expected=expected, actor="admin:alice"
        )
    assert not MinutesPerSessionChange.objects.exists()


def run(*args) -> str:
    out = StringIO()
    call_command("calibrate_minutes_per_session", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_reports_and_changes_nothing(measured):
    output = run()
    assert "Minutes per session measured on 2026-08, 2026-09, 2026-10" in output
    lines = {line.split("  ")[0]: line.split() for line in output.splitlines()}
    assert lines["All plans"][-6:] == ["5", "3", "140", "2.00", "3.60", "2.14"]
    assert lines["Starter"][-6:] == ["4", "2", "40", "2.50", "3.70", "2.50"]
    assert "In force: 2.00 min per session (the MINUTES_PER_SESSION setting)." in output
    assert "Nothing changed" in output
    assert not MinutesPerSessionChange.objects.exists()


def test_the_command_uses_the_figure_with_use(measured):
    output = run("--use", "--plan", "starter", "--reason", "Q4", "--actor", "ops")
    assert "Minutes per session: 2.00 → 2.50 (median of 4 customer-months, 40 sessions" in output
    change = MinutesPerSessionChange.objects.get()
    assert (change.value, change.actor, change.reason) == (Decimal("2.50"), "ops", "Q4")
    assert "In force: 2.50 min per session, set by ops" in run()


def test_the_command_refuses_an_unknown_plan(measured):
    with pytest.raises(CommandError, match="No measured month for plan 'nope'"):
        run("--use", "--plan", "nope")
