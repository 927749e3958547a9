"""A subscriber moves to Free at the end of its billing period and undoes it, from the
pricing page, in a real browser (issue 13, points 7 and 9); the switch confirmation shows
Stripe's preview of the prorated amount. Screenshots are kept in `test-results/`."""

from __future__ import annotations

import re

import pytest
import stripe

from accounts.models import Customer
from tests.support.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS, subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cancels_at_period_end(subscription: str) -> bool:
    return stripe.Subscription.retrieve(subscription, **OPTIONS)["cancel_at_period_end"]


def test_move_to_free_then_keep_the_plan(api, held_standin, open_page):
    customer_with_login("free", username="paula")
    subscription = subscribed(api, held_standin, "paula", "starter")
    page = open_page(DESKTOP)
    sign_in(page, "paula")
    page.goto("/pricing/")

    move = page.get_by_role("button", name="Move to Free", exact=True)
    confirm = page.get_by_role("group", name="Move to Free at the end of your billing period?")
    assert confirm.is_hidden()
    move.click()
    assert confirm.is_visible()
    assert "You keep Starter until" in confirm.inner_text()
    screenshot(page, "pricing-move-to-free-confirmation")
    page.get_by_role("button", name="Keep Starter").click()  # a change of mind: nothing sent
    assert confirm.is_hidden()
    assert not cancels_at_period_end(subscription)

    move.click()
    page.get_by_role("button", name="Yes, move to Free").click()
    notice = page.get_by_test_id("pending-move")
    notice.wait_for()
    assert "You move to Free on" in notice.inner_text()
    assert page.get_by_test_id("pending-plan").inner_text().startswith("Your plan from")
    assert cancels_at_period_end(subscription)
    paula = Customer.objects.get(external_id="paula")
    assert (paula.plan.code, paula.pending_plan.code) == ("starter", "free")
    screenshot(page, "pricing-move-to-free-pending")

    page.get_by_role("button", name="Keep Starter", exact=True).click()
    keep = page.get_by_role("group", name="Keep Starter?")
    assert keep.is_visible()
    screenshot(page, "pricing-keep-plan-confirmation")
    page.get_by_role("button", name="Yes, keep Starter").click()
    page.get_by_role("button", name="Move to Free", exact=True).wait_for()
    assert page.get_by_test_id("pending-move").count() == 0
    assert not cancels_at_period_end(subscription)
    paula.refresh_from_db()
    assert (paula.plan.code, paula.pending_plan) == ("starter", None)


def test_switch_confirmation_shows_stripes_prorated_amount(api, held_standin, open_page):
    customer_with_login("free", username="quinn")
    subscribed(api, held_standin, "quinn", "starter")
    page = open_page(PHONE)
    sign_in(page, "quinn")
    page.goto("/pricing/")
    page.get_by_role("button", name="Switch to Growth", exact=True).click()
    preview = page.get_by_test_id("switch-preview-growth")
    page.wait_for_function(
        'el => el.textContent.startsWith("Stripe\'s preview")', arg=preview.element_handle()
    )
    text = preview.inner_text()
    # A Starter month credited, a Growth month charged: $70 (a second or two less by now).
    assert re.match(r"Stripe's preview: \$(70\.00|69\.9\d) for the rest of this period", text)
    assert re.search(r"your next invoice \(.+\) comes to \$16(9\.00|8\.9\d)\.$", text), text
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "pricing-switch-preview-phone")
    assert Customer.objects.get(external_id="quinn").plan.code == "starter"
