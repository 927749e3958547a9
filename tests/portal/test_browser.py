"""The customer pages in a real browser: Debian's Chromium driven by Playwright.

One browser per test session (per xdist worker), one fresh context per test
(`tests/fixtures/browser.py`). Screenshots are kept in test-results/ as artifacts. Run only
these: `pytest -m browser`.
"""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.models import CustomerStatus
from tests.accounts.factories import plan
from tests.support.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.support.pages import add_sessions, customer_with_login, set_month_usage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLUE = "rgb(29, 78, 216)"  # --primary: proves the stylesheet was served and applied


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def only_our_host(page, live_server) -> bool:
    return page.hosts == {urlsplit(live_server.url).netloc}


def test_sign_in_read_usage_and_sign_out(open_page, live_server):
    today = timezone.now()
    alice = customer_with_login("starter", username="alice")
    add_sessions(alice, {1: 12, today.day: 5}, project_id="web", now=today)
    page = open_page(DESKTOP)

    page.goto("/account/usage/")
    assert "/accounts/login/?next=/account/usage/" in page.url
    sign_in(page, "alice")

    sessions = 17 if today.day != 1 else 5
    figure = page.get_by_test_id("usage-figure")
    assert figure.inner_text() == f"{sessions} / 5,000 sessions"
    assert page.get_by_test_id("usage-estimate").inner_text() == "≈ 10,000 minutes estimated"
    bar = page.get_by_role("progressbar", name="This month's sessions 0% used")
    assert bar.get_attribute("aria-valuenow") == "0"
    assert page.locator("svg[data-testid=daily-chart] rect.chart__bar").count() == len(
        {1, today.day}
    )
    assert page.get_by_test_id("projects").inner_text().startswith("web")
    assert page.get_by_test_id("forecast").inner_text().startswith("At this pace about")
    history = page.locator("svg[data-testid=history-chart] rect.chart__bar")
    assert history.count() == 1 and history.is_visible()
    page.get_by_text("Show the figures").nth(1).click()
    assert page.get_by_test_id("history-table").locator("tbody tr").count() == 12
    assert page.get_by_role("button", name="Sign in").count() == 0
    assert (
        page.get_by_role("link", name="Change plan").evaluate(
            "element => getComputedStyle(element).color"
        )
        == BLUE
    )
    assert only_our_host(page, live_server)
    screenshot(page, "usage-desktop")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/account/usage/")
    assert "/accounts/login/" in page.url


def test_80_percent_warning_and_payment_warning_on_a_phone(open_page, live_server):
    bob = customer_with_login("free", username="bob", status=CustomerStatus.PAST_DUE)
    set_month_usage(bob, sessions=86, failed=4, now=timezone.now())
    page = open_page(PHONE)
    sign_in(page, "bob")

    assert page.get_by_test_id("usage-figure").inner_text() == "86 / 100 sessions"
    warning = page.get_by_test_id("quota-warning")
    assert warning.is_visible()
    assert "You have used 86% of this month's sessions." in warning.inner_text()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "86"
    payment = page.get_by_role("alert").filter(has_text="Payment overdue")
    assert payment.is_visible()
    assert page.get_by_test_id("quota-reached").count() == 0
    assert fits_the_screen(page)
    assert only_our_host(page, live_server)
    screenshot(page, "usage-phone-80-percent-past-due")


def test_quota_reached_on_a_phone(open_page):
    carol = customer_with_login("free", username="carol")
    set_month_usage(carol, sessions=100, now=timezone.now())
    page = open_page(PHONE)
    sign_in(page, "carol")

    reached = page.get_by_test_id("quota-reached")
    assert reached.is_visible()
    assert "Quota reached." in reached.inner_text()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    fill = page.locator(".progress__fill")
    assert fill.evaluate("element => getComputedStyle(element).backgroundColor") == (
        "rgb(185, 28, 28)"
    )
    assert page.get_by_test_id("quota-warning").count() == 0
    assert fits_the_screen(page)
    screenshot(page, "usage-phone-quota-reached")


def test_grandfathered_customer_sees_its_move(open_page):
    moves_on = datetime.now(UTC) + timedelta(days=60)
    dave = customer_with_login(
        "legacy_pro",
        username="dave",
        grandfathered_until=moves_on,
        grandfather_plan=plan("growth"),
    )
    set_month_usage(dave, sessions=2000, minutes="4400", now=timezone.now())
    page = open_page(DESKTOP)
    sign_in(page, "dave")

    assert page.get_by_test_id("usage-figure").inner_text() == "4,400 / 8,000 minutes"
    move = page.get_by_test_id("grandfathering")
    assert f"Your plan moves to Growth on {moves_on.day} {moves_on:%B %Y}" in move.inner_text()
    assert "20,000 sessions / month" in move.inner_text()
    screenshot(page, "usage-desktop-grandfathered")

    page.get_by_role("link", name="Compare plans").click()
    page.wait_for_url("**/pricing/")
    next_card = page.locator("li[data-plan=growth]")
    assert "Your plan from" in next_card.inner_text()
    assert next_card.get_by_role("button", name="Upgrade to Growth").is_visible()


def test_pricing_page_on_a_phone(open_page, live_server):
    page = open_page(PHONE)
    page.goto("/pricing/")
    cards = page.locator("li.plan-card")
    assert cards.count() == 3
    for index in range(3):
        box = cards.nth(index).bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
    # stacked, one under the other
    assert cards.nth(1).bounding_box()["y"] > cards.nth(0).bounding_box()["y"] + 200
    assert "5,000 sessions / month" in cards.nth(1).inner_text()
    assert "≈ 10,000 minutes estimated" in cards.nth(1).inner_text()
    assert page.get_by_role("link", name="Sign in to choose Growth").is_visible()
    assert fits_the_screen(page)
    assert only_our_host(page, live_server)
    screenshot(page, "pricing-phone-visitor")

    customer_with_login("starter", username="erin")
    sign_in(page, "erin")
    page.goto("/pricing/")
    current = page.locator("li.plan-card--current")
    assert current.get_attribute("data-plan") == "starter"
    assert current.get_by_test_id("current-plan").inner_text() == "Your current plan"
    assert page.get_by_role("button", name="Upgrade to Growth").is_visible()
    assert fits_the_screen(page)
    screenshot(page, "pricing-phone-customer")


def test_upgrade_button_posts_to_checkout_and_follows_its_answer(open_page, live_server):
    """The page's side of the upgrade: what the button sends to /billing/checkout and what it
    does with each answer. The answers are played by the browser (page.route), so this test
    does not depend on the Stripe stand-in; the end-to-end upgrade is tested with it."""
    customer_with_login("starter", username="frank")
    page = open_page(PHONE)
    sign_in(page, "frank")
    page.goto("/pricing/")

    posted = []
    answers = [
        (503, {"code": "stripe_unavailable", "detail": "Stripe did not answer."}),
        (201, {"checkoutUrl": f"{live_server.url}/billing/cancel/", "sessionId": "cs_test_1"}),
    ]

    def answer(route):
        posted.append(route.request)
        status, body = answers.pop(0)
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    page.route("**/billing/checkout", answer)
    button = page.get_by_role("button", name="Upgrade to Growth")
    button.click()
    error = page.locator("li[data-plan=growth] [data-checkout-error]")
    error.wait_for(state="visible")
    assert error.inner_text() == (
        "Payments are unavailable right now. Nothing was charged; please try again in a few "
        "minutes. (Stripe did not answer.)"
    )
    assert button.is_enabled()
    screenshot(page, "pricing-phone-checkout-error")

    request = posted[0]
    assert request.method == "POST"
    assert json.loads(request.post_data) == {
        "plan": "growth",
        "user_id": "frank",
        "email": "frank@example.com",
    }
    token = page.locator("[data-checkout-form] [name=csrfmiddlewaretoken]").input_value()
    assert token
    assert request.headers["x-csrftoken"] == token
    assert request.headers["content-type"] == "application/json"

    button.click()
    page.wait_for_url("**/billing/cancel/")
    assert (
        "Nothing was charged. You are still on Starter."
        in page.get_by_test_id("checkout-result").inner_text()
    )
