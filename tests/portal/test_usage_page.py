import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.estimates import minutes_per_session
from accounts.models import CustomerStatus
from tests.accounts.factories import plan
from tests.support.pages import (
    add_sessions,
    customer_with_login,
    set_month_usage,
    signed_in,
    text,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]
URL = "/account/usage/"


def page(customer) -> str:
    response = signed_in(customer).get(URL)
    assert response.status_code == 200
    return response.content.decode()


def progressbar(html: str) -> str:
    match = re.search(r'<div class="progress[^"]*" role="progressbar".*?>', html, re.S)
    assert match, "no progress bar"
    return match.group(0)


def test_anonymous_visitor_is_sent_to_sign_in():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/account/usage/"


def test_sessions_used_of_quota_with_estimated_minutes_and_an_accessible_bar():
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=1234, failed=9)
    html = page(alice)
    words = text(html)
    assert "1,234 / 5,000 sessions" in words
    assert "≈ 10,000 minutes estimated" in words
    assert "24% used" in words
    assert "3,766 sessions left" in words
    bar = progressbar(html)
    assert 'aria-valuenow="24"' in bar
    assert 'aria-valuemin="0"' in bar
    assert 'aria-valuemax="100"' in bar
    assert 'aria-valuetext="24% used: 1,234 of 5,000 sessions"' in bar
    assert 'aria-labelledby="quota-title progress-label"' in bar
    assert 'id="progress-label"' in html
    assert 'style="width: 24%"' in html
    assert 'data-testid="quota-warning"' not in html
    assert 'data-testid="quota-reached"' not in html


def test_period_dates_are_shown():
    alice = customer_with_login("free", username="alice")
    words = text(page(alice))
    assert "Billing month 1 November \u2013 30 November 2026 · resets on 1 December (UTC)" in words


def test_no_warning_at_79_percent():
    alice = customer_with_login("free", username="alice")
    set_month_usage(alice, sessions=79)
    html = page(alice)
    assert 'data-testid="quota-warning"' not in html
    assert "usage-card--ok" in html


def test_warning_from_80_percent():
    alice = customer_with_login("free", username="alice")
    set_month_usage(alice, sessions=80, failed=3)
    html = page(alice)
    assert 'data-testid="quota-warning"' in html
    assert "You have used 80% of this month's sessions." in text(html)
    assert "progress--warning" in html
    assert 'data-testid="quota-reached"' not in html


def test_quota_reached_at_100_percent():
    alice = customer_with_login("free", username="alice")
    set_month_usage(alice, sessions=100)
    html = page(alice)
    words = text(html)
    assert "100 / 100 sessions" in words
    assert "Quota reached. New sessions are refused until 1 December." in words
    assert 'data-testid="quota-reached"' in html
    assert 'role="alert" data-testid="quota-reached"' in html
    assert 'aria-valuenow="100"' in progressbar(html)
    assert 'data-testid="quota-warning"' not in html


def test_past_due_customer_sees_a_payment_warning():
    alice = customer_with_login("starter", username="alice", status=CustomerStatus.PAST_DUE)
    html = page(alice)
    assert 'data-testid="payment-warning"' in html
    assert "Payment overdue" in text(html)
    assert "We could not take your last payment for the Starter plan." in text(html)

    bob = customer_with_login("starter", username="bob")
    assert 'data-testid="payment-warning"' not in page(bob)


def test_canceled_customer_is_told():
    alice = customer_with_login("free", username="alice", status=CustomerStatus.CANCELED)
    assert "Subscription canceled" in text(page(alice))


def test_grandfathered_customer_sees_legacy_minutes_the_move_date_and_next_plan():
    alice = customer_with_login(
        "legacy_pro",
        username="alice",
        grandfathered_until=datetime(2027, 1, 26, 9, 30, tzinfo=UTC),
        grandfather_plan=plan("growth"),
    )
    set_month_usage(alice, sessions=2100, minutes="4412.75")
    words = text(page(alice))
    assert "4,412 / 8,000 minutes" in words
    assert "55% used" in words
    # One unit, and the figures add up: 4,412 used + 3,588 left = 8,000 included.
    assert "3,588 minutes left" in words
    assert "sessions this month" not in words
    assert "Minutes per day" in words
    assert "Your plan moves to Growth on 26 January 2027" in words
    assert "Until then you keep Pro (minutes): 8,000 minutes / month for $39 a month." in words
    assert "legacy" not in words.lower()  # staff's word, never the customer's
    assert "From that day: 20,000 sessions / month (≈ 40,000 minutes estimated) for $99" in words


def test_legacy_plan_without_grandfathering_shows_minutes_and_no_move():
    alice = customer_with_login("legacy_build", username="alice")
    set_month_usage(alice, sessions=900, minutes="2400")
    html = page(alice)
    assert "2,400 / 3,000 minutes" in text(html)
    assert 'data-testid="quota-warning"' in html
    assert 'data-testid="grandfathering"' not in html
    assert "minutes estimated" not in text(html).split("Your plan")[0]


def test_chart_counts_each_day_without_failed_sessions():
    alice = customer_with_login("starter", username="alice")
    add_sessions(alice, {1: 3, 5: 8, 18: 2}, failed_per_day={5: 4, 6: 2})
    html = page(alice)
    bars = dict(re.findall(r'data-day="2026-11-(\d\d)" data-value="(\d+)"', html))
    assert bars == {"01": "3", "05": "8", "18": "2"}
    assert "13 sessions counted this month · busiest day 5 November (8)" in text(html)
    assert "13 / 5,000 sessions" in text(html)
    assert '<svg class="chart__svg"' in html
    assert 'role="img"' in html
    # the table behind the chart lists every day up to today, zeros included
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    assert table.count("<tr>") == 18
    assert '<th scope="row">Thu 5 Nov</th><td>8</td>' in table


def test_a_minute_plan_charts_minutes_without_failed_sessions():
    bob = customer_with_login("legacy_build", username="bob")
    add_sessions(bob, {1: 3, 5: 8}, failed_per_day={5: 4})  # two minutes each
    html = page(bob)
    bars = dict(re.findall(r'data-day="2026-11-(\d\d)" data-value="(\d+)"', html))
    assert bars == {"01": "6", "05": "16"}
    words = text(html)
    assert "22 / 3,000 minutes" in words
    assert "22 minutes counted this month · busiest day 5 November (16)" in words
    assert "2,978 minutes left" in words
    assert "Sessions per day" not in words
    assert "Thu 5 Nov: 16 minutes" in html


def test_chart_ignores_other_months_and_other_customers():
    alice = customer_with_login("starter", username="alice")
    bob = customer_with_login("starter", username="bob")
    add_sessions(alice, {2: 1})
    add_sessions(alice, {3: 5}, now=datetime(2026, 10, 10, tzinfo=UTC))
    add_sessions(bob, {2: 7})
    html = page(alice)
    assert dict(re.findall(r'data-day="([\d-]+)" data-value="(\d+)"', html)) == {"2026-11-02": "1"}


def test_page_queries_do_not_grow_with_sessions(django_assert_max_num_queries):
    alice = customer_with_login("growth", username="alice")
    add_sessions(alice, {day: 20 for day in range(1, 19)}, project_id="web")
    add_sessions(alice, {day: 5 for day in range(1, 19)}, project_id="mobile")
    client = signed_in(alice)
    minutes_per_session()  # the estimate's figure: in the shared cache, as between requests
    # session, user, customer with plans, month counters, sessions per day, projects, and
    # for the 12 months: their counters, the plan changes
    with django_assert_max_num_queries(8):
        response = client.get(URL)
    assert response.status_code == 200


def test_projects_are_listed_with_this_months_sessions():
    alice = customer_with_login("starter", username="alice")
    add_sessions(alice, {2: 4}, project_id="web")
    add_sessions(alice, {3: 1}, failed_per_day={3: 5}, project_id="kiosk")
    words = text(page(alice))
    assert "Projects 2 of 3" in words
    assert "web 4 sessions this month" in words
    assert "kiosk 1 session this month" in words


def test_a_customer_never_sees_another_customers_data():
    alice = customer_with_login("starter", username="alice")
    bob = customer_with_login("growth", username="bob", status=CustomerStatus.PAST_DUE)
    set_month_usage(alice, sessions=1234)
    add_sessions(bob, {4: 3}, project_id="bobs-secret-project")
    html = page(alice)
    assert "alice" in html
    assert "bob" not in html
    assert "bobs-secret-project" not in html
    assert "Growth" not in text(html).split("Your plan")[1]
    assert "payment-warning" not in html
    # the page takes no customer parameter: the login decides
    assert "bob" not in signed_in(alice).get(URL, {"user_id": "bob"}).content.decode()


def test_login_without_customer_gets_an_explanation_not_a_crash():
    from tests.accounts.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="nobody"))
    response = client.get(URL)
    assert response.status_code == 403
    assert "No billing account for this login" in response.content.decode()


def test_a_complimentary_plan_says_so_instead_of_a_price():
    gift = customer_with_login("growth", username="gift")
    gift.complimentary = True
    gift.save(update_fields=["complimentary"])
    html = page(gift)
    plan_card = text(html).split("Your plan")[1]
    assert "Growth complimentary" in plan_card
    assert "nothing is billed for it" in plan_card
    assert "$99" not in plan_card
    pricing = text(signed_in(gift).get("/pricing/").content.decode())
    assert "Your current plan, complimentary: not billed" in pricing


def test_a_minute_plans_days_add_up_to_its_month():
    # Fractions of a minute on each day: the days, in whole minutes, still add up to the
    # month's whole minutes (floored one by one they came to less).
    from decimal import Decimal

    from usage.models import Session

    carol = customer_with_login("legacy_build", username="carol")
    add_sessions(carol, {1: 3, 2: 3, 3: 3})
    Session.objects.filter(customer=carol).update(minutes=Decimal("1.5"))
    html = page(carol)
    bars = dict(re.findall(r'data-day="2026-11-(\d\d)" data-value="(\d+)"', html))
    assert sum(int(value) for value in bars.values()) == 13  # 9 sessions x 1.5 = 13.5
    assert "13 minutes counted this month" in text(html)


def test_a_minute_plans_projects_are_listed_with_their_minutes():
    bob = customer_with_login("legacy_build", username="bob")
    add_sessions(bob, {2: 4}, project_id="web")  # two minutes each
    words = text(page(bob))
    assert "web 8 minutes this month" in words
    assert "sessions this month" not in words
