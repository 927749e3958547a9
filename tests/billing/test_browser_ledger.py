"""The webhook ledger in a real browser at 1280 px (issue 12, points 6 and 7): every column
fits, each delivery names its event and customer, and the replay action is offered."""

from __future__ import annotations

import pytest

from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.config.admin_screens import delivery
from tests.support.browser import DESKTOP, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_ledger_fits_1280_pixels_and_names_each_delivery(open_page):
    CustomerFactory(plan=plan("starter"), external_id="alice", stripe_customer_id="cus_Alice1")
    delivery("customer.subscription.created", "cus_Alice1")
    delivery(
        "invoice.payment_failed",
        "cus_Alice1",
        error="No such price: 'price_unknown'; set the plan's Stripe price id",
    )
    delivery("customer.subscription.updated", "cus_Stranger")
    UserFactory(username="staff", is_staff=True, is_superuser=True)
    page = open_page(DESKTOP)
    page.goto("/admin/login/?next=/admin/djstripe/webhookeventtrigger/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/djstripe/webhookeventtrigger/")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    table = page.locator("#result_list").inner_text()
    assert "customer.subscription.created" in table and "alice" in table
    assert "cus_Stranger (not ours)" in table
    assert "No such price" in table
    assert page.locator("select[name=action] option[value=replay]").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The table does not scroll inside its box either: every column is in view.
    assert page.evaluate(
        "(() => { let box = document.querySelector('#result_list').parentElement;"
        " while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;"
        " return !box || box.scrollWidth <= box.clientWidth; })()"
    )
    assert page.get_by_role("columnheader", name="Error").is_visible()
    screenshot(page, "admin-webhook-ledger-1280")
