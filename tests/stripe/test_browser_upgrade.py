"""The whole upgrade in a real browser: pricing page → Stripe Checkout (the stand-in's hosted
page) → "Pay" → back on the portal, the plan changed by the signed webhooks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from accounts.models import Customer
from tests.pages.conftest import customer_with_login
from tests.pages.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, screenshot, sign_in
from tests.stripe.conftest import stripe_products

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def in_browser(base_url: str, script) -> None:
    """Run `script(page)` in a Chromium of its own, in a thread of its own.

    The pages' tests keep one Playwright session open per worker in the main thread, and
    Playwright's sync API allows one per thread; a thread of our own keeps the two apart.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium`.")
    failure: list[BaseException] = []

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = browser.new_context(viewport=DESKTOP, base_url=base_url)
                    context.set_default_timeout(15_000)
                    script(context.new_page())
                finally:
                    browser.close()
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="browser")
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser script did not finish"
    if failure:
        raise failure[0]


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
