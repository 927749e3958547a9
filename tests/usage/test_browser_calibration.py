"""The calibration page in a real browser at 1280 px (issue 12, points 5 and 7): the measured
figures per plan with their sample sizes, "use this figure", and the history it leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.estimates import minutes_per_session
from accounts.models import MinutesPerSessionChange
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.support.browser import DESKTOP, screenshot
from tests.usage.factories import MonthlyUsageFactory
from usage.calibration import calibration_periods

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_report_fits_1280_pixels_and_a_figure_is_used(open_page):
    periods = calibration_periods()
    for code, ratios in {
        "starter": ("2.10", "2.31", "2.45"),
        "growth": ("1.95", "2.29"),
        "legacy_pro": ("2.40", "2.80", "3.30"),
    }.items():
        customer = CustomerFactory(plan=plan(code))
        for period, ratio in zip(periods, ratios, strict=False):
            MonthlyUsageFactory(
                customer=customer,
                period=period.start,
                total_sessions=1000,
                successful_sessions=1000,
                billable_minutes=Decimal(ratio) * 1000,
                total_minutes=Decimal(ratio) * 1000,
            )
    UserFactory(username="staff", is_staff=True, is_superuser=True)
    page = open_page(DESKTOP)
    page.goto("/admin/login/?next=/admin/accounts/minutespersessionchange/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/accounts/minutespersessionchange/")

    table = page.get_by_test_id("calibration-table")
    rows = table.locator("tbody tr")
    assert rows.count() == 4  # all plans, then Starter, Growth, Pro (minutes, legacy)
    overall = rows.nth(0).inner_text().split()
    assert overall[:4] == ["All", "plans", "8", "3"]
    assert "2.36" in overall  # the median of the eight customer-months
    assert page.get_by_test_id("in-force").inner_text() == "2.00 min"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "admin-calibration-1280")

    page.get_by_label("Reason, required before a figure is used (kept in the history):").fill(
        "Q4 calibration"
    )
    rows.nth(0).get_by_role("button", name="Use this figure").first.click()
    page.wait_for_url("**/admin/accounts/minutespersessionchange/")
    # The admin's message (django-unfold draws it without the stock admin's .messagelist).
    assert page.get_by_text("Minutes per session: 2.00 → 2.36.").is_visible()
    assert page.get_by_test_id("in-force").inner_text() == "2.36 min"
    history = page.get_by_test_id("calibration-history").inner_text()
    assert "admin:staff" in history and "2.00 → 2.36" in history and "Q4 calibration" in history
    change = MinutesPerSessionChange.objects.get()
    assert (change.value, change.sample["customer_months"]) == (Decimal("2.36"), 8)
    assert minutes_per_session() == Decimal("2.36")
    screenshot(page, "admin-calibration-1280-used")
