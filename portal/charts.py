"""The sessions-per-day bar chart, laid out on the server and drawn as inline SVG.

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
    sessions: int
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


def daily_chart(*, counts: dict[date, int], period: Period, today: date) -> DailyChart:
    days = (period.end - period.start).days + 1
    scale_max = nice_ceiling(max(counts.values(), default=0))
    bars = []
    for index in range(days):
        day = period.start + timedelta(days=index)
        sessions = counts.get(day, 0)
        height = sessions / scale_max * CHART_HEIGHT if sessions else 0.0
        if sessions:
            height = max(height, MIN_VISIBLE_HEIGHT)
        bars.append(
            DayBar(
                day=day,
                sessions=sessions,
                x=round(index * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) / 2, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=BAR_WIDTH,
                height=round(height, 2),
                is_today=day == today,
                is_future=day > today,
            )
        )
    busiest = max((bar for bar in bars if bar.sessions), key=lambda b: b.sessions, default=None)
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
        total=sum(bar.sessions for bar in bars),
        busiest=busiest,
        x_labels=x_labels,
        y_labels=y_labels,
        width=days * SLOT_WIDTH,
    )
