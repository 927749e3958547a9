"""A subscriber switches plans in a real browser: pricing page → inline confirmation →
`POST /billing/subscription` → the success page already showing the new plan."""

from __future__ import annotations

import pytest

from accounts.models import Customer, PlanChange
from tests.support.browser import in_browser, screenshot, sign_in
from tests.support.pages import customer_with_login
from tests.support.stripe import deliver_new, price_at_stripe, subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_starter_subscriber_switches_to_growth(api, held_standin, live_server, settings):
    # Webhooks are held while the browser drives the live server (on SQLite both share one
    # connection) and delivered afterwards: the page must not need them.
    settings.SITE_URL = live_server.url
    customer_with_login("free", username="paula", email="paula@example.com")
    subscription = subscribed(api, held_standin, "paula")
    events, changes = held_standin.event_count(), PlanChange.objects.count()
    seen = {}

    def switch(page) -> None:
        sign_in(page, "paula")
        page.goto("/pricing/")
        button = page.get_by_role("button", name="Switch to Growth", exact=True)
        confirm = page.get_by_role("group", name="Switch your subscription to Growth now?")
        assert confirm.is_hidden()

        button.click()  # a change of mind first: nothing is sent
        assert confirm.is_visible()
        assert page.evaluate("document.activeElement.dataset.testid") == "switch-confirm-growth"
        page.get_by_role("button", name="Keep Starter").click()
        assert confirm.is_hidden()
        assert page.evaluate("document.activeElement.dataset.checkoutPlan") == "growth"

        button.click()
        seen["terms"] = page.get_by_test_id("switch-terms-growth").inner_text()
        screenshot(page, "pricing-switch-confirmation")
        page.get_by_role("button", name="Yes, switch to Growth").click()
        page.wait_for_url("**/billing/success/?plan=growth&change=switch")
        seen["heading"] = page.get_by_role("heading", level=1).inner_text()
        seen["result"] = page.get_by_test_id("checkout-result").inner_text()
        screenshot(page, "switch-success")

    in_browser(live_server.url, switch)

    assert "You pay the prorated difference for the rest of this billing period" in seen["terms"]
    assert seen["heading"] == "You are on Growth"
    assert seen["result"] == "Your subscription is switched and your new limits apply now."
    assert (
        price_at_stripe(subscription)
        == Customer.objects.get(external_id="paula").plan.stripe_price_id
    )
    assert PlanChange.objects.count() == changes + 1
    # Stripe's webhook for the change arrives after the page showed it: nothing more.
    assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
    paula = Customer.objects.select_related("plan").get(external_id="paula")
    assert (paula.plan.code, paula.status) == ("growth", "active")
    assert PlanChange.objects.count() == changes + 1
