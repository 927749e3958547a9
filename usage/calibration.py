"""The calibration report: minutes per session as measured, overall and per plan.

What is measured is each customer-month's minutes ÷ sessions, over the full months the dry runs
read (the three before this one), wherever both were recorded: by the metering, or by the old
system through the legacy import. Not the durations of single sessions, because

- the figure is used to turn a customer's month of minutes into sessions (and a plan's sessions
  into minutes), so the spread that matters is that of customer-months;
- the old system's months, the history of the very customers being moved, exist only as
  monthly counters (no session rows);
- single durations are skewed (many short sessions, a few long ones): their median is well
  below the minutes ÷ sessions of a month, and would overstate the sessions estimated.

The ratio is billable minutes (those of sessions that did not fail) ÷ sessions that did not
fail: the same two counters the dry run sets side by side. A month with no such session or no
minute measures nothing and is left out. Percentiles interpolate between the closest ranks
(PostgreSQL's `percentile_cont`), computed in Python so that SQLite and PostgreSQL agree; the
ratios are streamed, the sample sizes aggregated in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import connection
from django.db.models import Count, ExpressionWrapper, F, FloatField, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.errors import Conflict, InvalidInput
from accounts.estimates import CENTS
from accounts.models import MinutesPerSessionChange, Plan
from accounts.periods import Period, period_of
from accounts.progress import Progress, no_progress
from accounts.services.minutes_per_session import minutes_per_session_set
from usage.models import MonthlyUsage

CALIBRATION_MONTHS = 3
STATISTICS = {"median": 0.5, "p90": 0.9}
ALL_PLANS = "all"


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The value below which `fraction` of `sorted_values` lie, interpolated linearly between
    the closest ranks; None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * weight


def to_cents(value: float | None) -> Decimal | None:
    """A measured figure to the hundredth, half up; float noise (2.35499999…) cut first."""
    if value is None:
        return None
    return Decimal(repr(round(value, 9))).quantize(CENTS, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CalibrationSample:
    """The customer-months of one group (all plans, or the customers now on one plan)."""

    scope: str  # ALL_PLANS or a plan code
    label: str
    customer_months: int
    customers: int
    sessions: int
    minutes: Decimal
    median: Decimal | None
    p90: Decimal | None

    @property
    def mean(self) -> Decimal | None:
        """All the minutes ÷ all the sessions (each session weighs the same)."""
        if not self.sessions:
            return None
        return (self.minutes / self.sessions).quantize(CENTS, rounding=ROUND_HALF_UP)

    def figure(self, statistic: str) -> Decimal | None:
        if statistic not in STATISTICS:
            raise InvalidInput(
                f"Unknown statistic {statistic!r}: use {' or '.join(STATISTICS)}.",
                field="statistic",
            )
        return self.median if statistic == "median" else self.p90

    def as_json(self, statistic: str, months: list[str]) -> dict:
        """What an audit row keeps of the sample a figure was taken from."""
        return {
            "scope": self.scope,
            "statistic": statistic,
            "months": months,
            "customer_months": self.customer_months,
            "customers": self.customers,
            "sessions": self.sessions,
            "minutes": str(self.minutes),
            "median": str(self.median) if self.median is not None else None,
            "p90": str(self.p90) if self.p90 is not None else None,
        }


@dataclass(frozen=True)
class CalibrationReport:
    periods: list[Period]  # oldest first
    overall: CalibrationSample
    per_plan: list[CalibrationSample]  # catalogue order; plans with no measured month left out
    skipped_months: int  # customer-months in the window that measured nothing

    @property
    def months(self) -> list[str]:
        return [period.label for period in self.periods]

    def sample(self, scope: str) -> CalibrationSample:
        if scope == ALL_PLANS:
            return self.overall
        for sample in self.per_plan:
            if sample.scope == scope:
                return sample
        raise InvalidInput(f"No measured month for plan {scope!r}.", field="scope")


def calibration_periods(now: datetime | None = None) -> list[Period]:
    """The full calendar months before `now`'s month that the dry runs read, oldest first."""
    return list(reversed(period_of(now).previous().back(CALIBRATION_MONTHS)))


def _sample(scope: str, label: str, ratios: list[float], totals: dict) -> CalibrationSample:
    ratios.sort()
    median, p90 = (percentile(ratios, fraction) for fraction in STATISTICS.values())
    return CalibrationSample(
        scope=scope,
        label=label,
        customer_months=len(ratios),
        customers=totals["customers"],
        sessions=totals["sessions"] or 0,
        minutes=Decimal(totals["minutes"] or 0).quantize(CENTS),
        median=to_cents(median),
        p90=to_cents(p90),
    )


def calibration_report(
    *, now: datetime | None = None, progress: Progress | None = None
) -> CalibrationReport:
    """Minutes per session measured on the last full months, overall and per current plan.

    A few queries whatever the data: sizes per plan and overall, the ratios (streamed, as
    floats: at 300,000 customer-months decimals cost seconds), the plans, the months left out."""
    progress = progress or no_progress
    now = now or timezone.now()
    periods = calibration_periods(now)
    months = MonthlyUsage.objects.filter(period__in=[p.start for p in periods]).annotate(
        used=F("total_sessions") - F("failed_sessions")
    )
    measured = months.filter(used__gt=0, billable_minutes__gt=0).order_by()
    sizes = {
        "customer_months": Count("id"),
        "customers": Count("customer_id", distinct=True),
        "sessions": Sum("used"),
        "minutes": Sum("billable_minutes"),
    }
    per_plan_totals = {
        row["customer__plan_id"]: row
        for row in measured.values("customer__plan_id").annotate(**sizes)
    }
    overall_totals = measured.aggregate(**sizes)
    ratio = ExpressionWrapper(
        Cast("billable_minutes", FloatField()) / Cast("used", FloatField()),
        output_field=FloatField(),
    )
    total = overall_totals["customer_months"]
    ratios: dict[int, list[float]] = defaultdict(list)
    # The ORM's SQL, read by a plain cursor: a converter call per row would double the time.
    sql, params = (
        measured.annotate(ratio=ratio).values_list("customer__plan_id", "ratio").query
    ).sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        done = 0
        while chunk := cursor.fetchmany(10_000):
            for plan_id, value in chunk:
                ratios[plan_id].append(float(value))
            done += len(chunk)
            progress("reading monthly usage", done, total)
    plans = Plan.objects.filter(pk__in=ratios).order_by("is_legacy", "sort_order", "price_cents")
    per_plan = [
        _sample(plan.code, plan.name, ratios[plan.pk], per_plan_totals[plan.pk]) for plan in plans
    ]
    overall = _sample(
        ALL_PLANS, "All plans", [r for values in ratios.values() for r in values], overall_totals
    )
    return CalibrationReport(
        periods=periods,
        overall=overall,
        per_plan=per_plan,
        skipped_months=months.count() - overall.customer_months,
    )


def minutes_per_session_use_measured(
    *,
    scope: str = ALL_PLANS,
    statistic: str = "median",
    actor: str,
    reason: str = "",
    expected: Decimal | str | None = None,
    now: datetime | None = None,
) -> MinutesPerSessionChange:
    """Make a figure of the report the minutes per session every estimate uses ("use this
    figure"). The report is measured again here, never taken from the caller; `expected`, the
    figure the caller was shown, must still be the one measured."""
    report = calibration_report(now=now)
    sample = report.sample(scope)
    figure = sample.figure(statistic)
    if figure is None:
        raise InvalidInput("No month measured both minutes and sessions: nothing to use.")
    if expected is not None:
        try:
            shown = Decimal(str(expected)).quantize(CENTS)
        except (InvalidOperation, ValueError):
            raise InvalidInput(f"{expected!r} is not a number.", field="expected") from None
        if shown != figure:
            raise Conflict(
                f"The measured figure is now {figure} (the page showed {shown}): "
                "new usage arrived; review the report again."
            )
    return minutes_per_session_set(
        value=figure,
        actor=actor,
        reason=reason or f"Measured: {statistic} of {sample.label.lower()}",
        sample=sample.as_json(statistic, report.months),
    )
