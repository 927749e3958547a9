"""A grandfathered customer sees its own move: its last three months against the new plan, and
the plan that fits when its use would not (issue 13, point 8)."""

import re
from datetime import UTC, datetime

import pytest

from accounts.periods import period_of
from tests.accounts.factories import plan
from tests.support.pages import NOW, customer_with_login, signed_in, text
from tests.usage.factories import MonthlyUsageFactory
from usage.selectors import move_outlooks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]
URL = "/account/usage/"


def grandfathered(next_code: str = "starter", username: str = "alice"):
    return customer_with_login(
        "legacy_build",
        username=username,
        grandfathered_until=datetime(2027, 1, 26, tzinfo=UTC),
        grandfather_plan=plan(next_code),
    )


def used(customer, months_back: int, sessions: int, failed: int = 0):
    period = period_of(NOW)
    for _ in range(months_back):
        period = period.previous()
    MonthlyUsageFactory(
        customer=customer,
        period=period.start,
        total_sessions=sessions + failed,
        successful_sessions=sessions,
        failed_sessions=failed,
    )


def part(html: str, testid: str) -> str | None:
    match = re.search(rf'data-testid="{testid}">(.*?)</p>', html, re.S)
    return text(match.group(1)) if match else None


def test_the_last_three_months_against_the_new_plan():
    alice = grandfathered("starter")
    used(alice, 3, 2100)
    used(alice, 2, 1950, failed=40)  # failed sessions do not count
    used(alice, 1, 2300)
    used(alice, 0, 9999)  # this month is not complete: not one of the three
    html = signed_in(alice).get(URL).content.decode()
    assert part(html, "move-outlook") == (
        "In the last three months you used 2,100, 1,950 and 2,300 sessions "
        "(August, September, October); Starter includes 5,000 sessions for $29 a month."
    )
    assert part(html, "move-fits") is None


def test_no_use_at_all_is_said_plainly():
    alice = grandfathered("starter")
    html = signed_in(alice).get(URL).content.decode()
    assert part(html, "move-outlook") == (
        "You used no sessions in the last three months; Starter includes 5,000 sessions for "
        "$29 a month."
    )


def test_use_that_would_not_fit_names_the_plan_that_does_with_a_button():
    alice = grandfathered("starter")
    used(alice, 1, 7200)
    html = signed_in(alice).get(URL).content.decode()
    fits = part(html, "move-fits")
    assert fits.startswith("Your busiest month would not fit in Starter.")
    assert "Growth includes 20,000 sessions for $99 a month." in fits
    assert 'href="/pricing/#plan-growth">Choose Growth now</a>' in html


def test_no_outlook_for_a_customer_who_is_not_moving():
    bob = customer_with_login("starter", username="bob")
    used(bob, 1, 7200)
    html = signed_in(bob).get(URL).content.decode()
    assert part(html, "move-outlook") is None


def test_outlooks_in_bulk_read_each_customers_own_months(django_assert_num_queries):
    alice = grandfathered("starter", username="alice")
    bob = grandfathered("starter", username="bob")
    used(alice, 1, 100)
    used(bob, 1, 30000)  # above every plan: the largest one
    starter = plan("starter")
    with django_assert_num_queries(2):
        outlooks = move_outlooks(
            customer_ids=[alice.pk, bob.pk], new_plans={alice.pk: starter, bob.pk: starter}, now=NOW
        )
    assert [s for _, s in outlooks[alice.pk].months] == [0, 0, 100]
    assert outlooks[alice.pk].fits.code == "starter" and not outlooks[alice.pk].would_exceed
    assert outlooks[bob.pk].busiest == 30000
    assert outlooks[bob.pk].fits.code == "growth" and outlooks[bob.pk].would_exceed
