"""The usage page's last twelve months (chart and table) and where this month is heading, in
words and on the chart (issue 13, points 4 and 5: the page half)."""

import re
from datetime import date
from decimal import Decimal

import pytest

from accounts.periods import period_of
from portal.charts import monthly_chart
from tests.support.pages import NOW, customer_with_login, set_month_usage, signed_in, text
from tests.usage.factories import MonthlyUsageFactory
from usage.selectors import UsageMonth

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]
URL = "/account/usage/"  # NOW is 18 November 2026 at noon: 17.5 days of 30 gone


def page(customer) -> str:
    response = signed_in(customer).get(URL)
    assert response.status_code == 200
    return response.content.decode()


def forecast_words(html: str) -> str:
    match = re.search(r'data-testid="forecast">(.*?)</p>', html, re.S)
    assert match, "no forecast on the page"
    return text(match.group(1))


def past_month(customer, months_back: int, *, sessions: int = 0, minutes: str = "0"):
    period = period_of(NOW)
    for _ in range(months_back):
        period = period.previous()
    return MonthlyUsageFactory(
        customer=customer,
        period=period.start,
        total_sessions=sessions,
        successful_sessions=sessions,
        failed_sessions=0,
        total_minutes=Decimal(minutes),
        billable_minutes=Decimal(minutes),
    )


def test_a_pace_under_the_quota_is_said_in_words():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=2100)  # 120 a day → 3,600 by the 30th
    words = forecast_words(page(alice))
    assert words == "At this pace about 3,600 of 5,000 sessions by 30 November."


def test_a_pace_over_the_quota_names_the_day_it_runs_out():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=3500)  # 200 a day → 5,000 on the 25th
    words = forecast_words(page(alice))
    assert words.startswith("At this pace you will run out around 25 November")
    assert "about 6,000 sessions by the month's end, for 5,000 included" in words


def test_no_use_yet_projects_nothing():
    alice = customer_with_login("starter", username="alice")
    html = page(alice)
    assert forecast_words(html) == "No sessions used yet this month: nothing to project."
    assert 'data-testid="history-projection"' not in html


def test_a_used_up_quota_says_when_it_resets():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=5000)
    assert forecast_words(page(alice)) == "Your quota is used up; it resets on 1 December."


def test_a_legacy_customer_is_forecast_in_minutes():
    bob = customer_with_login("legacy_pro", username="bob")
    set_month_usage(bob, sessions=40, minutes="3500")  # 200 minutes a day → 6,000 of 8,000
    words = forecast_words(page(bob))
    assert words == "At this pace about 6,000 of 8,000 minutes by 30 November."


def test_the_table_lists_twelve_months_newest_first_with_each_months_quota():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=2100)
    past_month(alice, 1, sessions=1950)
    past_month(alice, 2, sessions=2300)
    past_month(alice, 12, sessions=999)  # thirteen months back: not shown
    html = page(alice)
    table = re.search(r'data-testid="history-table">(.*?)</table>', html, re.S).group(1)
    rows = [text(row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:]
    assert len(rows) == 12
    assert rows[0] == "November 2026 2,100 sessions 5,000"
    assert rows[1] == "October 2026 1,950 sessions 5,000"
    assert rows[2] == "September 2026 2,300 sessions 5,000"
    assert rows[11] == "December 2025 0 sessions 5,000"
    assert "999" not in table


def test_the_chart_draws_each_month_against_its_quota_and_this_months_projection():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=2100)
    past_month(alice, 1, sessions=1950)
    html = page(alice)
    chart = re.search(r'data-testid="history-chart">(.*?)</svg>', html, re.S).group(1)
    assert re.findall(r'data-month="([\d-]+)" data-percent="(\d+)"', chart) == [
        ("2026-10", "39"),
        ("2026-11", "42"),
    ]
    projection = re.search(r'data-testid="history-projection"><title>(.*?)</title>', chart)
    assert projection.group(1) == "November 2026 at this pace: 3,600 sessions"


def test_another_customers_months_never_show():
    alice = customer_with_login("starter", username="alice")
    mallory = customer_with_login("starter", username="mallory")
    past_month(mallory, 1, sessions=4321)
    assert "4,321" not in page(alice)


def months(*rows) -> list[UsageMonth]:
    """Newest first, as the API gives them."""
    return [
        UsageMonth(month=m, sessions_used=s, minutes_used=Decimal(mi), included=q, unit=u)
        for m, s, mi, q, u in rows
    ]


class TestMonthlyChart:
    def test_the_scale_grows_past_the_quota_and_the_quota_line_follows(self):
        chart = monthly_chart(
            months=months(
                ("2026-11", 100, "0", 5000, "sessions"),
                ("2026-10", 6000, "0", 5000, "sessions"),  # 120 %
            ),
            projected=300,
        )
        assert chart.scale_percent == 150
        assert chart.quota_y == pytest.approx(33.33)
        assert [label.text for label in chart.y_labels] == ["150%", "100%", "0"]
        assert [bar.month for bar in chart.bars] == [date(2026, 10, 1), date(2026, 11, 1)]

    def test_far_over_the_quota_the_labels_do_not_overlap(self):
        chart = monthly_chart(
            months=months(
                ("2026-11", 10, "0", 100, "sessions"),
                ("2026-10", 8200, "0", 100, "sessions"),  # 8,200 %
            ),
            projected=0,
        )
        assert chart.scale_percent == 8200
        # The quota's line is still drawn; its label would sit on the "0".
        assert chart.quota_y == pytest.approx(98.78)
        assert [label.text for label in chart.y_labels] == ["8,200%", "0"]

    def test_each_month_is_measured_in_its_own_unit(self):
        chart = monthly_chart(
            months=(
                months(
                    ("2026-11", 2500, "0", 5000, "sessions"),
                    ("2026-10", 900, "4000", 8000, "minutes"),
                )
            ),
            projected=0,
        )
        october, november = chart.bars
        assert (october.used, october.unit, october.percent) == (4000, "minutes", 50)
        assert (november.used, november.unit, november.percent) == (2500, "sessions", 50)
        assert november.projected is None  # nothing projected beyond what is used

    def test_a_projection_no_taller_than_a_tiny_bar_is_not_drawn(self):
        # 35 of 5,000 sessions, 36 projected: the bar is raised to its minimal visible height,
        # taller than the projection (which was drawn with a negative height).
        chart = monthly_chart(months=months(("2026-11", 35, "0", 5000, "sessions")), projected=36)
        (bar,) = chart.bars
        assert bar.projected is None
        assert all(b.projected_height is None or b.projected_height >= 0 for b in chart.bars)

    def test_a_projection_above_the_scale_stretches_it(self):
        chart = monthly_chart(months=months(("2026-11", 100, "0", 100, "sessions")), projected=250)
        assert chart.scale_percent == 300
        (bar,) = chart.bars
        assert bar.projected == 250
        assert bar.projected_y == pytest.approx(100 - 250 / 300 * 100, abs=0.01)
