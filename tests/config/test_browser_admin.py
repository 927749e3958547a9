"""Every admin screen in a real browser at 1280 px (issue 12, points 3 and 7): no list column
is cut off or scrolled out of view, nothing is fetched from another host, and a screenshot of
each screen is kept in `test-results/`."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.accounts.factories import UserFactory
from tests.config.admin_screens import admin_day
from tests.support.browser import DESKTOP, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("database_queue"),
]

# Where each screen is; "{customer}", "{batch}" and "{job}" are the day's rows.
SCREENS = {
    "dashboard": "/admin/",
    "customers": "/admin/accounts/customer/",
    "customer": "/admin/accounts/customer/{customer}/change/",
    "plans": "/admin/accounts/plan/",
    "minutes-per-session": "/admin/accounts/minutespersessionchange/",
    "plan-history": "/admin/accounts/planchange/",
    "batches": "/admin/accounts/migrationbatch/",
    "batch": "/admin/accounts/migrationbatch/{batch}/change/",
    "import": "/admin/accounts/customer/import/",
    "service-keys": "/admin/api/servicekey/",
    "outbox": "/admin/accounts/emailnotification/",
    "price-moves": "/admin/billing/stripepricemove/",
    "webhook-ledger": "/admin/djstripe/webhookeventtrigger/",
    "tasks": "/admin/django_tasks_database/dbtaskresult/",
    "jobs": "/admin/accounts/backgroundjob/",
    "job": "/admin/accounts/backgroundjob/{job}/change/",
    "sessions": "/admin/usage/session/",
    "monthly-usage": "/admin/usage/monthlyusage/",
}

# Header cells (of the list, or of any table) whose right edge is beyond what the viewport, or
# the box that scrolls them, shows; and the page's own width.
MEASURE = """() => {
  const clipOf = (element) => {
    let right = window.innerWidth;
    for (let box = element.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow !== 'visible') right = Math.min(right, box.getBoundingClientRect().right);
    }
    return right;
  };
  // Screen-reader-only headers (a 1 px box) are not columns anyone sees.
  const hidden = (element) => {
    for (let box = element; box; box = box.parentElement) {
      const rect = box.getBoundingClientRect();
      if (rect.width <= 1 || rect.height <= 1) return true;
    }
    return false;
  };
  const cut = [];
  for (const th of document.querySelectorAll('table thead th')) {
    const rect = th.getBoundingClientRect();
    if (!hidden(th) && rect.right > clipOf(th) + 1) {
      cut.push((th.innerText || th.className).trim() + ' +' + Math.round(rect.right - clipOf(th)));
    }
  }
  return {page: document.documentElement.scrollWidth, viewport: window.innerWidth, cut};
}"""


def signed_in_page(open_page, live_server, user):
    """A 1280 px page whose browser carries `user`'s admin session."""
    client = Client()
    client.force_login(user)
    page = open_page(DESKTOP)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    return page


def whole_page(page) -> None:
    """The admin scrolls inside its main column: a viewport as tall as that column lets the
    screenshot show the whole screen (the width stays 1280 px)."""
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('*')].map((e) => e.scrollHeight))"
    )
    page.set_viewport_size({"width": DESKTOP["width"], "height": min(height, 6000)})


@pytest.mark.parametrize("screen", SCREENS)
def test_each_admin_screen_fits_1280_pixels(open_page, live_server, screen):
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    day = admin_day(staff)
    page = signed_in_page(open_page, live_server, staff)
    url = SCREENS[screen].format(customer=day.customer.pk, batch=day.batch.pk, job=day.job.pk)
    response = page.goto(url)
    assert response.status == 200, f"{screen}: {response.status}"
    assert "/login/" not in page.url
    measured = page.evaluate(MEASURE)
    whole_page(page)
    screenshot(page, f"admin-{screen}-1280")
    print(f"{screen}: page {measured['page']} px, cut {measured['cut']}")
    assert measured["cut"] == [], f"{screen}: columns out of view {measured['cut']}"
    assert measured["page"] <= measured["viewport"], f"{screen}: page is {measured['page']} px"
    own_host = live_server.url.split("/")[2]
    assert page.hosts == {own_host}, f"{screen}: fetched from {page.hosts - {own_host}}"
