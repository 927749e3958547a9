"""The whole upgrade in a real browser: pricing page → Stripe Checkout (the stand-in's hosted
page) → "Pay" → back on the portal, the plan changed by the signed webhooks."""

from __future__ import annotations

import pytest

from billing.models import Customer
from tests.pages.conftest import customer_with_login

# The pages' browser fixtures (one Chromium per worker, a fresh context per test).
from tests.pages.test_browser import DESKTOP, browser, open_page, screenshot, sign_in  # noqa: F401
from tests.stripe.conftest import stripe_products

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upgrade_from_the_pricing_page(open_page, live_standin, live_server, settings):  # noqa: F811
    settings.SITE_URL = live_server.url  # where Stripe sends the browser back
    stripe_products()
    customer_with_login("free", username="paula", email="paula@example.com")
    page = open_page(DESKTOP)
    sign_in(page, "paula")
    page.goto("/pricing/")

    page.get_by_role("button", name="Upgrade to Starter").click()
    page.wait_for_url(f"{live_standin.url}/c/pay/*")
    assert "AI Gate - Starter: $29.00 / month" in page.content()
    page.get_by_role("button", name="Pay (test card 4242)").click()
    page.wait_for_url("**/billing/success/?plan=starter*")

    assert page.get_by_test_id("checkout-result").inner_text() == (
        "Thank you: your payment went through and your plan is active."
    )
    paula = Customer.objects.select_related("plan").get(external_id="paula")
    assert (paula.plan.code, paula.status) == ("starter", "active")
    assert paula.stripe_subscription_id.startswith("sub_")
    screenshot(page, "checkout-success-after-standin")
