"""The dashboard's charts, laid out on the server and drawn as inline SVG (as the customers'
usage page draws its own, `portal/charts.py`): nothing is fetched from another host.

Bars are SVG rectangles in a viewBox that stretches to the card; labels are HTML, so text
keeps its size."""

from __future__ import annotations

from dataclasses import dataclass

HEIGHT = 100  # viewBox units
SLOT = 10
COLUMN = 7
MIN_VISIBLE = 1.5  # a bar of one still shows


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    percent: float  # of the largest value: the width of a row bar, the height of a column
    x: float = 0
    y: float = 0
    height: float = 0


def rows(items: list[tuple[str, int]]) -> list[Bar]:
    """Horizontal bars, each as wide as its share of the largest."""
    top = max((value for _, value in items), default=0)
    return [
        Bar(label, value, round(value * 100 / top, 2) if top else 0.0) for label, value in items
    ]


@dataclass(frozen=True)
class ColumnChart:
    bars: list[Bar]
    top: int
    width: int
    height: int = HEIGHT


def columns(items: list[tuple[str, int]]) -> ColumnChart:
    """Vertical bars side by side, scaled to the largest (at least 1)."""
    top = max([value for _, value in items] + [1])
    bars = []
    for index, (label, value) in enumerate(items):
        height = value * HEIGHT / top if value else 0.0
        if value:
            height = max(height, MIN_VISIBLE)
        bars.append(
            Bar(
                label,
                value,
                round(value * 100 / top, 2),
                x=index * SLOT + (SLOT - COLUMN) / 2,
                y=round(HEIGHT - height, 2),
                height=round(height, 2),
            )
        )
    return ColumnChart(bars=bars, top=top, width=len(items) * SLOT)
