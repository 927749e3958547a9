"""Getting in, in a real browser: the dashboard's portal link and the e-mailed sign-in link
(read from the test mail outbox). Screenshots are kept in test-results/."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import timezone

from tests.accounts.factories import CustomerFactory, plan
from tests.support.browser import DESKTOP, PHONE, screenshot
from tests.support.pages import customer_with_login, set_month_usage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "https://app.example.test"


@pytest.fixture(autouse=True)
def site(settings, live_server):
    settings.SITE_URL = live_server.url  # the links point at the test server
    settings.PORTAL_RETURN_ORIGINS = [DASHBOARD]


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_dashboards_portal_link_signs_in_once_with_a_way_back(api, open_page, live_server):
    customer = CustomerFactory(external_id="acme", email="ops@acme.test", plan=plan("starter"))
    set_month_usage(customer, sessions=1234, now=timezone.now())
    response = api.post(
        "/api/v1/portal-sessions",
        {"user_id": "acme", "return_url": f"{DASHBOARD}/settings/billing"},
        format="json",
    )
    assert response.status_code == 201
    url = response.json()["url"]
    assert url.startswith(live_server.url)

    page = open_page(DESKTOP)
    page.goto(url)
    page.wait_for_url("**/account/usage/")
    assert page.get_by_test_id("usage-figure").inner_text() == "1,234 / 5,000 sessions"
    back = page.get_by_role("link", name="Back to dashboard")
    assert back.get_attribute("href") == f"{DASHBOARD}/settings/billing"
    assert back.is_visible() and back.inner_text() == "← Back to dashboard"
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert page.get_by_role("link", name="Change your password").count() == 0
    screenshot(page, "sign-in-portal-link-usage-desktop")

    phone = open_page(PHONE)
    phone.goto(url)  # the same link a second time, in another browser
    assert phone.get_by_role("heading", name="This link no longer works").is_visible()
    assert phone.get_by_role("button", name="E-mail me a sign-in link").is_visible()
    assert phone.get_by_role("link", name="Back to dashboard").count() == 0
    assert fits_the_screen(phone)
    screenshot(phone, "sign-in-link-used-phone")

    fresh = api.post(
        "/api/v1/portal-sessions",
        {"user_id": "acme", "return_url": f"{DASHBOARD}/settings/billing"},
        format="json",
    ).json()["url"]
    phone.goto(fresh)
    phone.wait_for_url("**/account/usage/")
    back = phone.get_by_role("link", name="Back to dashboard")
    assert back.is_visible() and back.inner_text() == "← Dashboard"
    sign_out = phone.get_by_role("button", name="Sign out").bounding_box()
    assert abs(sign_out["y"] - back.bounding_box()["y"]) < 12  # the nav stays on one row
    assert fits_the_screen(phone)
    screenshot(phone, "sign-in-portal-link-usage-phone")


def test_the_e_mailed_link_signs_in_after_one_click(open_page):
    alice = customer_with_login("growth", username="alice", email="alice@example.com")
    set_month_usage(alice, sessions=321, now=timezone.now())
    page = open_page(PHONE)

    page.goto("/accounts/login/")
    assert fits_the_screen(page)
    screenshot(page, "sign-in-page-phone")
    page.get_by_label("E-mail address").fill("alice@example.com")
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    page.wait_for_url("**/accounts/login/link/sent/")
    assert page.get_by_test_id("link-sent").is_visible()
    screenshot(page, "sign-in-email-sent-phone")

    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    link = re.search(r"https?://\S+/accounts/link/[\w-]+/", message.body).group(0)

    desktop = open_page(DESKTOP)
    desktop.goto(urlsplit(link).path)
    assert desktop.get_by_test_id("link-confirm").inner_text() == (
        "Continue to the usage page of the account alice."
    )
    screenshot(desktop, "sign-in-email-link-confirm-desktop")
    desktop.get_by_role("button", name="Continue").click()
    desktop.wait_for_url("**/account/usage/")
    assert desktop.get_by_test_id("usage-figure").inner_text() == "321 / 20,000 sessions"
    assert desktop.get_by_role("link", name="Back to dashboard").count() == 0
    screenshot(desktop, "sign-in-email-link-usage-desktop")


def test_the_sign_in_page_on_a_desktop(open_page):
    page = open_page(DESKTOP)
    page.goto("/accounts/login/")
    assert page.get_by_role("heading", name="Or sign in with a password").is_visible()
    assert page.get_by_label("Username").is_visible()
    page.get_by_role("button", name="E-mail me a sign-in link").click()  # empty address
    assert page.get_by_text("This field is required.").is_visible()
    screenshot(page, "sign-in-page-error-desktop")
