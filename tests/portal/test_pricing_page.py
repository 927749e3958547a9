import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from accounts.models import Plan
from tests.accounts.factories import UserFactory, plan
from tests.support.pages import customer_with_login, signed_in, text

pytestmark = pytest.mark.django_db
URL = "/pricing/"


def cards(html: str) -> dict[str, str]:
    """Each plan card's visible text, by plan code."""
    grid = html.split('<ul class="plan-grid"')[1].split('<p class="fineprint">')[0]
    found = {}
    for card in grid.split('<li class="plan-card')[1:]:
        code = re.search(r'data-plan="([^"]+)"', card).group(1)
        found[code] = text(card.split(">", 1)[1])
    return found


def test_public_page_has_one_card_per_public_plan_with_every_figure():
    html = Client().get(URL).content.decode()
    by_plan = cards(html)
    assert list(by_plan) == ["free", "starter", "growth"]
    assert by_plan["starter"].startswith("Starter $29 / month 5,000 sessions / month")
    for words in (
        "≈ 10,000 minutes estimated",
        "3 projects included",
        "10 concurrent sessions",
        "Email support (48h)",
        "No uptime SLA",
        'No "Powered by AI-Gate" badge',
    ):
        assert words in by_plan["starter"]
    assert "99.9% uptime SLA" in by_plan["growth"]
    assert "Email support (24h)" in by_plan["growth"]
    assert 'Shows a "Powered by AI-Gate" badge' in by_plan["free"]
    assert "Community support" in by_plan["free"]
    assert "legacy" not in html.lower()


def test_visitor_gets_sign_in_links_and_no_checkout():
    html = Client().get(URL).content.decode()
    assert "Sign in to choose Growth" in text(html)
    assert 'href="/accounts/login/?next=/pricing/"' in html
    assert "data-checkout-plan" not in html
    assert "checkout.js" not in html


def test_visitor_is_offered_a_way_to_sign_in_back_to_pricing():
    html = Client().get(URL, {"plan": "growth"}).content.decode()
    assert "Already a customer? Sign in to see your plan and change it." in text(html)
    assert 'href="/accounts/login/?next=/pricing/%3Fplan%3Dgrowth"' in html
    login = Client().get("/accounts/login/?next=/pricing/")
    assert login.status_code == 200


def test_subscriber_moving_to_free_sees_the_date_and_can_keep_its_plan():
    alice = customer_with_login(
        "growth",
        username="alice",
        stripe_customer_id="cus_1",
        stripe_subscription_id="sub_1",
        pending_plan=plan("free"),
        pending_plan_at=datetime(2026, 12, 18, 12, tzinfo=UTC),
    )
    html = signed_in(alice).get(URL).content.decode()
    assert (
        "You move to Free on 18 December 2026: your subscription ends then and nothing more is "
        "billed. Until then you keep Growth. Keep Growth Keep Growth? Your subscription "
        "continues as before: the next invoice is $99 on 18 December 2026."
    ) in text(html)
    assert 'data-endpoint="/billing/subscription/resume"' in html
    by_plan = cards(html)
    assert by_plan["free"].startswith("Your plan from 18 December Free")
    assert by_plan["free"].endswith("From 18 December")
    assert by_plan["growth"].startswith("Your current plan")


def test_cards_follow_the_catalogue():
    Plan.objects.filter(code="starter").update(included_sessions=6000, price_cents=3400)
    Plan.objects.filter(code="free").update(is_public=False)
    by_plan = cards(Client().get(URL).content.decode())
    assert list(by_plan) == ["starter", "growth"]
    assert "$34 / month 6,000 sessions / month" in by_plan["starter"]


def test_signed_in_customer_sees_its_plan_marked_and_upgrades():
    alice = customer_with_login("starter", username="alice")
    html = signed_in(alice).get(URL).content.decode()
    by_plan = cards(html)
    assert by_plan["starter"].startswith("Your current plan Starter")
    assert "Current plan" in by_plan["starter"]
    assert "Upgrade to Growth" in by_plan["growth"]
    assert "Ask us to move you" in by_plan["free"]
    assert re.findall(r'data-checkout-plan="(\w+)"', html) == ["growth"]
    assert html.count('data-testid="current-plan"') == 1
    # what the script posts to /billing/checkout
    form = re.search(r"<form hidden data-checkout-form.*?</form>", html, re.S).group(0)
    assert 'data-endpoint="/billing/checkout"' in form
    assert 'data-user-id="alice"' in form
    assert 'data-email="alice@example.com"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    assert "/static/js/checkout.js" in html


def test_grandfathered_customer_sees_its_next_plan():
    alice = customer_with_login(
        "legacy_pro",
        username="alice",
        grandfathered_until=datetime(2027, 1, 26, tzinfo=UTC),
        grandfather_plan=plan("growth"),
    )
    html = signed_in(alice).get(URL).content.decode()
    assert "You are on Pro (minutes) until 26 January 2027; then you move to Growth" in text(html)
    assert cards(html)["growth"].startswith("Your plan from 26 January Growth")
    assert re.findall(r'data-checkout-plan="(\w+)"', html) == ["starter", "growth"]


def test_login_without_customer_sees_prices_but_cannot_buy():
    client = Client()
    client.force_login(UserFactory(username="staffer", is_staff=True))
    html = client.get(URL).content.decode()
    assert len(cards(html)) == 3
    assert "This login has no billing account" in text(html)
    assert "data-checkout-form" not in html


def test_home_sends_visitors_to_pricing_and_customers_to_usage():
    assert Client().get("/")["Location"] == "/pricing/"
    alice = customer_with_login("free", username="alice")
    assert signed_in(alice).get("/")["Location"] == "/account/usage/"


def test_subscriber_switches_its_subscription_instead_of_a_second_checkout():
    alice = customer_with_login(
        "starter", username="alice", stripe_customer_id="cus_1", stripe_subscription_id="sub_1"
    )
    html = signed_in(alice).get(URL).content.decode()
    by_plan = cards(html)
    assert "Switch to Growth" in by_plan["growth"]
    assert "Upgrade to Growth" not in html
    # Free ends the subscription at the period's end, confirmed first.
    assert by_plan["free"].endswith(
        "Move to Free Move to Free at the end of your billing period? You keep Starter until the "
        "end of the period you paid for; then your subscription ends and nothing more is billed. "
        "You can undo this until then. Yes, move to Free Keep Starter"
    )
    assert 'data-endpoint="/billing/subscription/cancel"' in html
    assert re.findall(r'data-checkout-plan="(\w+)"\s+data-switch', html) == ["growth"]
    assert (
        "Switch your subscription to Growth now? Growth's limits apply at once. You pay the "
        "prorated difference for the rest of this billing period on your next invoice."
    ) in by_plan["growth"]
    assert "Yes, switch to Growth Keep Starter" in by_plan["growth"]
    form = re.search(r"<form hidden data-checkout-form.*?</form>", html, re.S).group(0)
    assert 'data-switch-endpoint="/billing/subscription"' in form
    assert 'data-success-url="/billing/success/"' in form


def test_growth_subscriber_may_switch_down_to_starter_with_a_credit():
    bob = customer_with_login(
        "growth", username="bob", stripe_customer_id="cus_2", stripe_subscription_id="sub_2"
    )
    html = signed_in(bob).get(URL).content.decode()
    starter = cards(html)["starter"]
    assert "Switch to Starter" in starter
    assert (
        "Starter's limits apply at once, and the unused part of Growth is credited on your "
        "next invoice."
    ) in starter
    assert re.findall(r'data-checkout-plan="(\w+)"', html) == ["starter"]


def test_canceled_subscriber_goes_through_checkout_again():
    carol = customer_with_login(
        "free", username="carol", stripe_subscription_id="sub_3", status="canceled"
    )
    html = signed_in(carol).get(URL).content.decode()
    assert "Upgrade to Starter" in cards(html)["starter"]
    assert "data-switch" not in re.search(r"<button[^>]*data-checkout-plan[^>]*>", html).group(0)


def test_what_a_plan_lacks_is_marked_as_such_not_ticked():
    html = Client().get(URL).content.decode()
    grid = html.split('<ul class="plan-grid"')[1]
    by_code = {
        re.search(r'data-plan="([^"]+)"', card).group(1): card
        for card in grid.split('<li class="plan-card')[1:]
    }
    lacking = {
        code: [text(item) for item in re.findall(r'<li class="facts__without">(.*?)</li>', card)]
        for code, card in by_code.items()
    }
    assert lacking["free"] == ["No uptime SLA", 'Shows a "Powered by AI-Gate" badge']
    assert lacking["starter"] == ["No uptime SLA"]
    assert lacking["growth"] == []
