"""The admin's "Change plan" in a real browser at 1280 px (issue 12, points 1 and 7): staff
move a Stripe subscriber to Free at the end of its paid period, and the customer's page says
so; the screenshots are kept in `test-results/`."""

from __future__ import annotations

import re

import pytest
import stripe

from accounts.models import Customer
from tests.accounts.factories import UserFactory
from tests.support.browser import DESKTOP, screenshot
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS, subscribed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_staff_move_a_subscriber_to_free_at_the_period_end(api, held_standin, open_page):
    customer_with_login("free", username="paula")
    subscription = subscribed(api, held_standin, "paula", "growth")
    paula = Customer.objects.get(external_id="paula")
    UserFactory(username="staff", is_staff=True, is_superuser=True)
    page = open_page(DESKTOP)
    page.goto(f"/admin/login/?next=/admin/accounts/customer/{paula.pk}/change/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/admin/accounts/customer/{paula.pk}/change/")

    page.get_by_role("link", name="Change plan").click()
    page.wait_for_url("**/change-plan/")
    assert "Now on Growth" in page.get_by_test_id("current-plan").inner_text()
    page.get_by_label("Plan").select_option(label="Free — $0/mo")
    page.get_by_label("At the end of the paid period").check()
    page.get_by_role("button", name="Preview the change").click()
    page.wait_for_selector("[data-testid=comparison]")
    comparison = page.get_by_test_id("comparison").inner_text()
    effect = page.get_by_test_id("stripe-effect").inner_text()
    assert "$99.00\t→\t$0.00" in comparison
    assert "20,000 sessions\t→\t100 sessions" in comparison
    assert f"Subscription {subscription} is set to cancel at the end of the paid period" in effect
    assert fits(page)
    screenshot(page, "admin-change-plan-confirmation")

    # No reason: refused, nothing changed.
    page.get_by_role("button", name="Change the plan").click()
    assert page.locator(".errorlist").first.is_visible()
    paula.refresh_from_db()
    assert paula.pending_plan is None

    page.get_by_label("Why").fill("asked to stop at the end of the month")
    page.get_by_role("button", name="Change the plan").click()
    page.wait_for_url(f"**/admin/accounts/customer/{paula.pk}/change/")
    assert "moves to Free on" in page.get_by_test_id("pending-plan").inner_text()
    # The admin's message (django-unfold draws it without the stock admin's .messagelist).
    assert page.get_by_text(re.compile("paula moves from growth to free on", re.I)).is_visible()
    screenshot(page, "admin-change-plan-done")

    paula.refresh_from_db()
    assert (paula.plan.code, paula.pending_plan.code) == ("growth", "free")
    assert stripe.Subscription.retrieve(subscription, **OPTIONS)["cancel_at_period_end"] is True
