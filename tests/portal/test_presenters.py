from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.periods import period_of
from portal.presenters import (
    CardAction,
    PlanTerms,
    format_count,
    format_price,
    plan_cards,
    support_label,
    usage_display,
)
from tests.accounts.factories import plan
from usage.selectors import UsageSummary

pytestmark = pytest.mark.django_db


def summary(plan_code: str, *, sessions: int = 0, failed: int = 0, minutes: str = "0"):
    return UsageSummary(
        customer=None,
        plan=plan(plan_code),
        period=period_of(datetime(2026, 11, 18, tzinfo=UTC)),
        total_sessions=sessions + failed,
        successful_sessions=sessions,
        failed_sessions=failed,
        total_minutes=Decimal(minutes),
        billable_minutes=Decimal(minutes),
    )


def test_figures_and_prices_are_formatted_for_people():
    assert format_count(1234) == "1,234"
    assert format_count(Decimal("4412.99")) == "4,412"
    assert format_price(2900, "usd") == "$29"
    assert format_price(1950, "usd") == "$19.50"
    assert format_price(0, "usd") == "$0"
    assert format_price(123456, "eur") == "1,234.56 EUR"


def test_support_codes_read_as_words():
    assert support_label("community") == "Community support"
    assert support_label("email-48h") == "Email support (48h)"
    assert support_label("email-24h") == "Email support (24h)"
    assert support_label("dedicated-slack") == "Dedicated slack"


def test_session_plan_usage_reads_like_the_dashboard():
    display = usage_display(summary("starter", sessions=1234, failed=7))
    assert display.headline == "1,234 / 5,000 sessions"
    assert display.estimated_minutes == "10,000"
    assert display.remaining == "3,766 sessions"
    assert (display.percent, display.level) == (24, "ok")
    assert display.resets_on.isoformat() == "2026-12-01"


@pytest.mark.parametrize(
    ("sessions", "level"), [(79, "ok"), (80, "warning"), (99, "warning"), (100, "reached")]
)
def test_warning_from_80_percent_and_reached_at_100(sessions, level):
    assert usage_display(summary("free", sessions=sessions)).level == level


def test_minute_plan_shows_minutes_and_caps_the_bar():
    display = usage_display(summary("legacy_build", sessions=1600, minutes="3120.5"))
    assert display.headline == "3,120 / 3,000 minutes"
    assert display.estimated_minutes is None
    assert display.remaining == "0 minutes"
    assert (display.percent, display.bar_percent, display.level) == (104, 100, "reached")


def test_plan_terms_carry_every_figure_of_the_card():
    terms = PlanTerms(plan("growth"))
    assert terms.price == "$99"
    assert terms.quota == "20,000 sessions / month"
    assert terms.estimated_minutes == "≈ 40,000 minutes estimated"
    assert terms.projects == "10 projects included"
    assert terms.support == "Email support (24h)"
    assert terms.sla == "99.9% uptime SLA"
    assert terms.badge == 'No "Powered by AI-Gate" badge'
    free = PlanTerms(plan("free"))
    assert free.projects == "1 project included"
    assert free.sla == "No uptime SLA"
    assert free.badge == 'Shows a "Powered by AI-Gate" badge'
    assert PlanTerms(plan("legacy_pro")).quota == "8,000 minutes / month"


def _actions(customer, *, signed_in=True):
    plans = [plan("free"), plan("starter"), plan("growth")]
    cards = plan_cards(plans=plans, customer=customer, signed_in=signed_in)
    return {card.plan.code: (card.action, card.checkout_label) for card in cards}


def test_card_actions_for_a_visitor_and_a_login_without_customer():
    assert {action for action, _ in _actions(None, signed_in=False).values()} == {
        CardAction.SIGN_IN
    }
    assert {action for action, _ in _actions(None).values()} == {CardAction.NONE}


def test_card_actions_upgrade_only_to_dearer_plans(customer_on):
    assert _actions(customer_on("starter")) == {
        "free": (CardAction.CONTACT, ""),
        "starter": (CardAction.CURRENT, ""),
        "growth": (CardAction.CHECKOUT, "Upgrade to Growth"),
    }
    assert _actions(customer_on("free"))["starter"] == (CardAction.CHECKOUT, "Upgrade to Starter")


def test_a_legacy_customer_may_buy_any_paid_session_plan(customer_on):
    legacy = customer_on(
        "legacy_pro",
        grandfathered_until=datetime(2027, 1, 26, tzinfo=UTC),
        grandfather_plan=plan("growth"),
    )
    assert _actions(legacy) == {
        "free": (CardAction.CONTACT, ""),
        "starter": (CardAction.CHECKOUT, "Switch to Starter"),
        "growth": (CardAction.CHECKOUT, "Upgrade to Growth"),
    }
    cards = plan_cards(plans=[plan("starter"), plan("growth")], customer=legacy, signed_in=True)
    assert [card.is_next_plan for card in cards] == [False, True]
