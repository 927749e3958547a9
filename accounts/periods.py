"""Billing months: calendar months in UTC. Every period computation goes through here."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class Period:
    start: date  # first day of the month

    @property
    def end(self) -> date:
        """Last day of the month (inclusive)."""
        return self.start.replace(day=calendar.monthrange(self.start.year, self.start.month)[1])

    @property
    def starts_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, 1, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        """First instant of the next month (exclusive)."""
        return self.next().starts_at

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")

    def next(self) -> Period:
        return Period(self.end + timedelta(days=1))

    def previous(self) -> Period:
        return period_of(self.start - timedelta(days=1))

    def back(self, count: int) -> list[Period]:
        """This month and the `count - 1` before it, newest first."""
        periods = [self]
        while len(periods) < count:
            periods.append(periods[-1].previous())
        return periods


def period_of(moment: datetime | date | None = None) -> Period:
    """The billing month that contains `moment` (now when omitted)."""
    if moment is None:
        moment = timezone.now()
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return Period(moment.replace(day=1))


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
