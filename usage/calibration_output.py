"""The calibration report as text lines (the command prints them)."""

from __future__ import annotations

from collections.abc import Iterator

from accounts.models import MinutesPerSessionChange
from usage.calibration import CalibrationReport, CalibrationSample


def _figure(value) -> str:
    return "-" if value is None else f"{value}"


def _row(sample: CalibrationSample, width: int) -> str:
    return (
        f"{sample.label:<{width}} {sample.customer_months:>8,} {sample.customers:>9,} "
        f"{sample.sessions:>11,} {_figure(sample.median):>7} {_figure(sample.p90):>7} "
        f"{_figure(sample.mean):>7}"
    )


def report_lines(report: CalibrationReport) -> Iterator[str]:
    yield (
        f"Minutes per session measured on {', '.join(report.months)}: billable minutes ÷ "
        "sessions that did not fail, per customer-month (plan: the customer's plan now)."
    )
    width = max(len(s.label) for s in [report.overall, *report.per_plan])
    yield (
        f"{'':<{width}} {'months':>8} {'customers':>9} {'sessions':>11} {'median':>7} "
        f"{'p90':>7} {'mean':>7}"
    )
    yield _row(report.overall, width)
    for sample in report.per_plan:
        yield _row(sample, width)
    if report.skipped_months:
        yield (
            f"Left out: {report.skipped_months:,} customer-month(s) with no session or no minute "
            "recorded."
        )


def in_force_line(change: MinutesPerSessionChange | None, default) -> str:
    if change is None:
        return f"In force: {default} min per session (the MINUTES_PER_SESSION setting)."
    return (
        f"In force: {change.value} min per session, set by {change.actor} on "
        f"{change.created_at:%Y-%m-%d %H:%M} UTC (was {change.previous_value})."
    )
