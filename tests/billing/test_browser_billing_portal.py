"""Stripe's billing portal in a real browser, through the stand-in's hosted page.

A past-due customer: usage page → "Update payment method" → the portal → a new card → back on
the usage page, the warning gone and both invoices paid (the signed webhooks did it). Then
"Manage billing" → "Cancel plan" → back, the end date shown; at the period's end the
subscription is deleted and the customer is on Free. Desktop and phone screenshots are kept.
"""

from __future__ import annotations

import pytest

from accounts.models import Customer, CustomerStatus
from tests.support.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.support.pages import customer_with_login
from tests.support.stripe import Helpers, deliver_new, subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _site_is_the_test_server(settings, live_server):
    # The page sends its own address as the portal's return_url, which must be on this site.
    settings.SITE_URL = live_server.url


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def past_due_subscriber(api, standin, username: str) -> str:
    customer_with_login("free", username=username, email=f"{username}@example.com")
    subscription = subscribed(api, standin, username)
    mark = standin.event_count()
    Helpers(standin).fail_payment(subscription)
    deliver_new(standin, since=mark)
    assert Customer.objects.get(external_id=username).status == CustomerStatus.PAST_DUE
    # From here on the stand-in delivers each event before it answers the browser, as the
    # Checkout page does: the customer comes back to a page that already shows the result.
    standin.auto_deliver = True
    return subscription


def invoice_statuses(page) -> list[str]:
    return page.get_by_test_id("invoices").locator("tbody .status-badge").all_inner_texts()


def test_past_due_customer_updates_the_card_then_cancels(api, held_standin, open_page):
    subscription = past_due_subscriber(api, held_standin, "paula")
    page = open_page(DESKTOP)
    sign_in(page, "paula")

    warning = page.get_by_test_id("payment-warning")
    assert warning.is_visible()
    assert invoice_statuses(page) == ["Unpaid", "Paid"]
    assert page.get_by_test_id("invoices").locator("tbody tr").first.inner_text().split("\t")[
        1:3
    ] == ["$29.00", "Unpaid"]
    screenshot(page, "usage-past-due-billing")

    warning.get_by_role("button", name="Update payment method").click()
    page.wait_for_url(f"{held_standin.url}/p/session/bps_*")
    assert "1 open invoice: $29.00 due" in page.content()
    screenshot(page, "billing-portal-past-due")
    page.get_by_role("button", name="Update payment method").click()
    page.wait_for_url("**?done=card")
    assert page.get_by_role("status").inner_text().startswith("Your payment method is updated")
    page.get_by_test_id("portal-return").click()
    page.wait_for_url("**/account/usage/")

    assert page.get_by_test_id("payment-warning").count() == 0
    assert invoice_statuses(page) == ["Paid", "Paid"]
    paula = Customer.objects.get(external_id="paula")
    assert (paula.plan.code, paula.status) == ("starter", CustomerStatus.ACTIVE)
    screenshot(page, "usage-after-card-update")

    page.get_by_role("button", name="Manage billing").click()
    page.wait_for_url(f"{held_standin.url}/p/session/bps_*")
    page.get_by_role("link", name="Cancel plan").click()
    page.get_by_role("button", name="Cancel plan").click()
    page.wait_for_url("**?done=cancel")
    assert page.get_by_test_id("portal-plan-state").inner_text().startswith("Cancels on ")
    screenshot(page, "billing-portal-canceled")
    page.get_by_test_id("portal-return").click()
    page.wait_for_url("**/account/usage/")
    ends = page.get_by_test_id("cancels-at").inner_text()
    assert ends.startswith("Your subscription is canceled: Starter ends on ")
    screenshot(page, "usage-canceled-at-period-end")

    # The calendar reaches the period's end: Stripe deletes the subscription.
    Helpers(held_standin).post(f"/_standin/subscriptions/{subscription}/period_end")
    paula.refresh_from_db()
    assert (paula.plan.code, paula.status) == ("free", CustomerStatus.CANCELED)
    page.reload()
    assert page.get_by_test_id("canceled-notice").is_visible()
    assert page.get_by_test_id("cancels-at").count() == 0
    assert invoice_statuses(page) == ["Paid", "Paid"]


def test_billing_on_a_phone(api, held_standin, open_page):
    past_due_subscriber(api, held_standin, "quinn")
    page = open_page(PHONE)
    sign_in(page, "quinn")

    assert fits_the_screen(page)
    billing = page.get_by_test_id("billing")
    billing.scroll_into_view_if_needed()
    assert billing.get_by_role("button", name="Manage billing").is_visible()
    links = page.get_by_test_id("invoices").get_by_role("link", name="Invoice ")
    assert links.count() == 2 and links.first.is_visible()
    screenshot(page, "usage-billing-phone")

    page.get_by_test_id("payment-warning").get_by_role(
        "button", name="Update payment method"
    ).click()
    page.wait_for_url(f"{held_standin.url}/p/session/bps_*")
    assert fits_the_screen(page)
    screenshot(page, "billing-portal-phone")


def test_an_error_from_the_server_is_shown_next_to_the_button(api, held_standin, open_page):
    past_due_subscriber(api, held_standin, "rita")
    page = open_page(DESKTOP)
    sign_in(page, "rita")
    held_standin.fail_next(1, 500)  # Stripe down for the portal session

    page.get_by_role("button", name="Manage billing").click()

    error = page.get_by_test_id("billing").get_by_role("alert")
    error.wait_for()
    assert error.inner_text() == (
        "Billing is unavailable right now. Nothing was changed; please try again in a few minutes."
    )
    assert page.get_by_role("button", name="Manage billing").is_enabled()
    assert page.url.endswith("/account/usage/")
