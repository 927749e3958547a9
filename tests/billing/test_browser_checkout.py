"""The whole upgrade in a real browser: pricing page → Stripe Checkout (the stand-in's hosted
page) → "Pay" → back on the portal, the plan changed by the signed webhooks."""

from __future__ import annotations

import pytest

from accounts.models import Customer
from tests.support.browser import in_browser, screenshot, sign_in
from tests.support.pages import customer_with_login
from tests.support.stripe import stripe_products

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upgrade_from_the_pricing_page(live_standin, live_server, settings):
    settings.SITE_URL = live_server.url  # where Stripe sends the browser back
    stripe_products()
    customer_with_login("free", username="paula", email="paula@example.com")
    seen = {}

    def upgrade(page) -> None:
        sign_in(page, "paula")
        page.goto("/pricing/")
        page.get_by_role("button", name="Upgrade to Starter").click()
        page.wait_for_url(f"{live_standin.url}/c/pay/*")
        seen["checkout"] = page.content()
        page.get_by_role("button", name="Pay (test card 4242)").click()
        page.wait_for_url("**/billing/success/?plan=starter*")
        seen["result"] = page.get_by_test_id("checkout-result").inner_text()
        screenshot(page, "checkout-success-after-standin")

    in_browser(live_server.url, upgrade)

    assert "AI Gate - Starter: $29.00 / month" in seen["checkout"]
    assert seen["result"] == "Thank you: your payment went through and your plan is active."
    paula = Customer.objects.select_related("plan").get(external_id="paula")
    assert (paula.plan.code, paula.status) == ("starter", "active")
    assert paula.stripe_subscription_id.startswith("sub_")
