"""The per-day bar chart (sessions, or minutes on a minute plan), laid out on the server and
drawn as inline SVG.

The SVG holds only the bars and grid lines (it stretches to the width it is given); the
axis labels are HTML placed by percentage, so that text keeps its size on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from accounts.periods import Period

SLOT_WIDTH = 10  # viewBox units per day
BAR_WIDTH = 7
CHART_HEIGHT = 100
MIN_VISIBLE_HEIGHT = 1.5  # a day with one session still shows a sliver
LABEL_EVERY = 7


@dataclass(frozen=True)
class DayBar:
    day: date
    value: int  # sessions, or whole minutes on a minute plan
    x: float
    y: float
    width: float
    height: float
    is_today: bool
    is_future: bool


@dataclass(frozen=True)
class AxisLabel:
    text: str
    position: float  # percent from the left (x axis) or from the top (y axis)


@dataclass(frozen=True)
class DailyChart:
    bars: list[DayBar]
    scale_max: int
    total: int
    busiest: DayBar | None
    x_labels: list[AxisLabel]
    y_labels: list[AxisLabel]
    width: int = 0
    height: int = CHART_HEIGHT
    unit: str = "sessions"

    @property
    def singular(self) -> str:
        return self.unit[:-1]

    @property
    def shown_bars(self) -> list[DayBar]:
        """Days up to today: the future has no data and no row in the table."""
        return [bar for bar in self.bars if not bar.is_future]


def nice_ceiling(value: int) -> int:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) at
    or above `value` whose half is a whole number: the axis shows 0, half and the top."""
    magnitude = 1
    while True:
        for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            candidate = round(step * magnitude)
            if candidate >= max(value, 2) and candidate % 2 == 0:
                return candidate
        magnitude *= 10


def daily_chart(
    *, counts: dict[date, int], period: Period, today: date, unit: str = "sessions"
) -> DailyChart:
    days = (period.end - period.start).days + 1
    scale_max = nice_ceiling(max(counts.values(), default=0))
    bars = []
    for index in range(days):
        day = period.start + timedelta(days=index)
        value = counts.get(day, 0)
        height = value / scale_max * CHART_HEIGHT if value else 0.0
        if value:
            height = max(height, MIN_VISIBLE_HEIGHT)
        bars.append(
            DayBar(
                day=day,
                value=value,
                x=round(index * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) / 2, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=BAR_WIDTH,
                height=round(height, 2),
                is_today=day == today,
                is_future=day > today,
            )
        )
    busiest = max((bar for bar in bars if bar.value), key=lambda b: b.value, default=None)
    x_labels = [
        AxisLabel(
            text=f"{bar.day.day} {bar.day:%b}",
            position=round((index + 0.5) / days * 100, 2),
        )
        for index, bar in enumerate(bars)
        if index % LABEL_EVERY == 0
    ]
    y_labels = [
        AxisLabel(text=f"{scale_max:,}", position=0),
        AxisLabel(text=f"{scale_max // 2:,}", position=50),
        AxisLabel(text="0", position=100),
    ]
    return DailyChart(
        bars=bars,
        scale_max=scale_max,
        total=sum(bar.value for bar in bars),
        unit=unit,
        busiest=busiest,
        x_labels=x_labels,
        y_labels=y_labels,
        width=days * SLOT_WIDTH,
    )


# --- The last twelve months, as a share of each month's quota ------------------------------
#
# Months may differ in plan and unit (a legacy customer's minute months, then sessions), so
# each bar is that month's use over that month's quota: the 100 % line is "your quota",
# whatever it counted. The figures themselves are in the table and each bar's tooltip.

MONTH_SLOT = 10  # viewBox units per month
MONTH_BAR = 6
PERCENT_STEPS = (100, 150, 200, 300, 500, 1000)
MIN_LABEL_GAP = 12  # percent of the chart's height between two axis labels


@dataclass(frozen=True)
class MonthBar:
    month: date  # the 1st of the month
    used: int  # in the month's unit, floored
    included: int
    unit: str
    percent: int  # of the month's quota; 0 when the quota is 0
    x: float
    y: float
    height: float
    is_current: bool
    projected: int | None = None  # the current month only: use at this pace by its end
    projected_y: float | None = None
    projected_height: float | None = None


@dataclass(frozen=True)
class MonthlyChart:
    bars: list[MonthBar]  # oldest first, as read left to right
    scale_percent: int
    quota_y: float  # where the 100 % line is drawn
    x_labels: list[AxisLabel]
    y_labels: list[AxisLabel]
    width: int
    height: int = CHART_HEIGHT

    @property
    def rows(self) -> list[MonthBar]:
        """The table: newest first, like the API."""
        return list(reversed(self.bars))


def _percent(used: int, included: int) -> int:
    return int(used * 100 // included) if included else 0


def monthly_chart(*, months: list, projected: int) -> MonthlyChart:
    """`months`: the API's history (UsageMonth, newest first); `projected`: the current month's
    forecast in its unit, drawn as an outline above its bar."""
    ordered = list(reversed(months))
    values = []
    for month in ordered:
        used = int(month.minutes_used if month.unit == "minutes" else month.sessions_used)
        values.append((month, used, _percent(used, month.included)))
    current_projected = _percent(projected, ordered[-1].included) if ordered else 0
    highest = max([percent for _, _, percent in values] + [current_projected, 100])
    scale = next((step for step in PERCENT_STEPS if step >= highest), highest)
    bars = []
    for index, (month, used, percent) in enumerate(values):
        height = percent / scale * CHART_HEIGHT
        if used:
            height = max(height, MIN_VISIBLE_HEIGHT)
        year, number = (int(part) for part in month.month.split("-"))
        is_current = index == len(values) - 1
        extra = {}
        projected_height = current_projected / scale * CHART_HEIGHT
        # Drawn above the bar only where it reaches higher (a bar raised to its minimal visible
        # height may already be taller: a negative height is no SVG).
        if is_current and projected > used and projected_height > height:
            extra = {
                "projected": projected,
                "projected_y": round(CHART_HEIGHT - projected_height, 2),
                "projected_height": round(projected_height - height, 2),
            }
        bars.append(
            MonthBar(
                month=date(year, number, 1),
                used=used,
                included=month.included,
                unit=month.unit,
                percent=percent,
                x=round(index * MONTH_SLOT + (MONTH_SLOT - MONTH_BAR) / 2, 2),
                y=round(CHART_HEIGHT - height, 2),
                height=round(height, 2),
                is_current=is_current,
                **extra,
            )
        )
    count = max(len(bars), 1)
    x_labels = [
        AxisLabel(
            text=f"{bar.month:%b}" + (f" {bar.month:%y}" if bar.month.month == 1 or not i else ""),
            position=round((i + 0.5) / count * 100, 2),
        )
        for i, bar in enumerate(bars)
        if (len(bars) - 1 - i) % 2 == 0  # every other month, ending with this one
    ]
    quota_y = round(CHART_HEIGHT - 100 / scale * CHART_HEIGHT, 2)
    y_labels = [
        AxisLabel(text=f"{scale:,}%", position=0),
        # Left out where it would sit on the "0" (a month far over its quota sets the scale).
        AxisLabel(text="100%", position=quota_y)
        if scale != 100 and quota_y <= CHART_HEIGHT - MIN_LABEL_GAP
        else None,
        AxisLabel(text="0", position=100),
    ]
    return MonthlyChart(
        bars=bars,
        scale_percent=scale,
        quota_y=quota_y,
        x_labels=x_labels,
        y_labels=[label for label in y_labels if label],
        width=count * MONTH_SLOT,
    )
