from datetime import date

import pytest

from accounts.periods import period_of
from portal.charts import CHART_HEIGHT, MIN_VISIBLE_HEIGHT, daily_chart, nice_ceiling

NOVEMBER = period_of(date(2026, 11, 18))


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 2), (1, 2), (3, 4), (9, 10), (11, 12), (13, 20), (47, 50), (103, 120), (151, 200)],
)
def test_nice_ceiling_is_round_even_and_not_below_the_value(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_one_bar_per_day_of_the_month_scaled_to_the_axis():
    chart = daily_chart(
        counts={date(2026, 11, 1): 60, date(2026, 11, 2): 120, date(2026, 11, 17): 30},
        period=NOVEMBER,
        today=date(2026, 11, 18),
    )
    assert len(chart.bars) == 30
    assert chart.scale_max == 120
    assert chart.total == 210
    first, second = chart.bars[0], chart.bars[1]
    assert (first.value, first.height, first.y) == (60, CHART_HEIGHT / 2, CHART_HEIGHT / 2)
    assert (second.height, second.y) == (CHART_HEIGHT, 0)
    assert chart.busiest.day == date(2026, 11, 2)
    assert [label.text for label in chart.y_labels] == ["120", "60", "0"]
    assert [label.text for label in chart.x_labels] == [
        "1 Nov",
        "8 Nov",
        "15 Nov",
        "22 Nov",
        "29 Nov",
    ]


def test_days_after_today_are_future_and_left_out_of_the_table():
    chart = daily_chart(counts={}, period=NOVEMBER, today=date(2026, 11, 18))
    future = [bar.day.day for bar in chart.bars if bar.is_future]
    assert future == list(range(19, 31))
    assert [bar.day.day for bar in chart.shown_bars] == list(range(1, 19))
    assert [bar.day for bar in chart.bars if bar.is_today] == [date(2026, 11, 18)]
    assert chart.busiest is None
    assert chart.total == 0


def test_a_small_day_next_to_a_big_one_stays_visible():
    chart = daily_chart(
        counts={date(2026, 11, 1): 1, date(2026, 11, 2): 10_000},
        period=NOVEMBER,
        today=date(2026, 11, 18),
    )
    assert chart.bars[0].height == MIN_VISIBLE_HEIGHT
    assert chart.bars[2].height == 0


def test_bars_do_not_overlap_and_fill_the_view_box():
    chart = daily_chart(counts={}, period=period_of(date(2027, 2, 1)), today=date(2027, 2, 1))
    assert len(chart.bars) == 28
    assert chart.width == 280
    for left, right in zip(chart.bars, chart.bars[1:], strict=False):
        assert left.x + left.width < right.x
    assert chart.bars[-1].x + chart.bars[-1].width <= chart.width
