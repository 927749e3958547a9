"""What the pages show, formatted at the edge: figures with separators, prices, labels.

Templates stay free of business rules: they read these objects and loop.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from accounts.estimates import estimated_minutes
from accounts.formatting import money
from accounts.models import Customer, CustomerStatus, Plan
from billing.selectors import InvoiceRow
from billing.services.plan_switch import UPGRADE, switch_direction
from usage.selectors import UsageSummary

WARNING_PERCENT = 80
REACHED_PERCENT = 100

_SUPPORT_LABELS = {"community": "Community support"}
_EMAIL_SUPPORT = re.compile(r"^e-?mail-(\d+)h$")


def format_count(value: int | Decimal) -> str:
    """1234 → "1,234"; minutes are floored so that a figure never overstates use."""
    return f"{math.floor(value):,}"


def format_price(cents: int, currency: str) -> str:
    """Integer cents to "$29" / "$29.50"; other currencies as "29.00 EUR"."""
    whole, rest = divmod(cents, 100)
    if currency.lower() == "usd":
        return f"${whole:,}" if not rest else f"${whole:,}.{rest:02d}"
    return f"{whole:,}.{rest:02d} {currency.upper()}"


def support_label(code: str) -> str:
    if code in _SUPPORT_LABELS:
        return _SUPPORT_LABELS[code]
    match = _EMAIL_SUPPORT.match(code)
    if match:
        return f"Email support ({match.group(1)}h)"
    return code.replace("-", " ").capitalize()


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural_form or singular + 's'}"


@dataclass(frozen=True)
class UsageDisplay:
    plan: Plan
    unit: str  # "sessions" or "minutes": the plan's billing unit
    used: str
    quota: str
    percent: int
    remaining: str
    sessions_used: str
    estimated_minutes: str | None  # session plans only
    period_start: date
    period_end: date
    resets_on: date

    @property
    def headline(self) -> str:
        return f"{self.used} / {self.quota} {self.unit}"

    @property
    def bar_percent(self) -> int:
        """The bar's fill and aria-valuenow: use can pass 100% on a minute plan (a session's
        minutes are known only at its end) but a progress bar stops at its maximum."""
        return min(self.percent, 100)

    @property
    def is_reached(self) -> bool:
        return self.percent >= REACHED_PERCENT

    @property
    def is_warning(self) -> bool:
        return WARNING_PERCENT <= self.percent < REACHED_PERCENT

    @property
    def level(self) -> str:
        return "reached" if self.is_reached else "warning" if self.is_warning else "ok"

    @property
    def bills_minutes(self) -> bool:
        return self.unit == "minutes"


def usage_display(summary: UsageSummary) -> UsageDisplay:
    plan = summary.plan
    if plan.bills_minutes:
        # Whole minutes, and what is left is the quota less what is shown as used: the
        # figures add up (1,234 used + 6,766 left = 8,000), as the customer will check.
        used = math.floor(summary.billable_minutes)
        remaining = max(plan.included_minutes - used, 0)
        estimated = None
    else:
        used, remaining = summary.sessions_used, summary.sessions_remaining
        estimated = format_count(estimated_minutes(plan))
    unit = "minutes" if plan.bills_minutes else "sessions"
    return UsageDisplay(
        plan=plan,
        unit=unit,
        used=format_count(used),
        quota=format_count(plan.quota),
        percent=summary.percent_used,
        remaining=f"{format_count(remaining)} {unit}",
        sessions_used=format_count(summary.sessions_used),
        estimated_minutes=estimated,
        period_start=summary.period.start,
        period_end=summary.period.end,
        resets_on=summary.period.next().start,
    )


@dataclass(frozen=True)
class PlanTerms:
    """A plan's figures as the customer reads them (pricing cards, the grandfathering note)."""

    plan: Plan

    @property
    def price(self) -> str:
        return format_price(self.plan.price_cents, self.plan.currency)

    @property
    def quota(self) -> str:
        if self.plan.bills_minutes:
            return f"{format_count(self.plan.included_minutes)} minutes / month"
        return f"{format_count(self.plan.included_sessions)} sessions / month"

    @property
    def estimated_minutes(self) -> str | None:
        if self.plan.bills_minutes:
            return None
        return f"≈ {format_count(estimated_minutes(self.plan))} minutes estimated"

    @property
    def projects(self) -> str:
        return f"{plural(self.plan.max_projects, 'project')} included"

    @property
    def support(self) -> str:
        return support_label(self.plan.support)

    @property
    def sla(self) -> str:
        return f"{self.plan.sla} uptime SLA" if self.plan.sla else "No uptime SLA"

    @property
    def badge(self) -> str:
        if self.plan.badge:
            return 'Shows a "Powered by AI-Gate" badge'
        return 'No "Powered by AI-Gate" badge'

    @property
    def concurrency(self) -> str:
        return f"{plural(self.plan.max_concurrent_sessions, 'concurrent session')}"

    @property
    def requests(self) -> str:
        return f"{format_count(self.plan.requests_per_minute)} requests / minute"


class CardAction:
    SIGN_IN = "sign_in"  # anonymous visitor
    CURRENT = "current"
    CHECKOUT = "checkout"  # a paid plan the customer may buy through Stripe Checkout
    SWITCH = "switch"  # a subscriber moves its live subscription to this plan (confirmed first)
    MOVE_TO_FREE = "move_to_free"  # a subscriber cancels at the period's end (confirmed first)
    PENDING = "pending"  # the plan a subscriber moves to at the period's end (undo above)
    CONTACT = "contact"  # a move down without a subscription: handled by people
    NONE = "none"  # signed in without a customer (staff)


@dataclass(frozen=True)
class PlanCard:
    terms: PlanTerms
    action: str
    is_next_plan: bool  # the plan a grandfathered customer moves to
    checkout_label: str = ""
    direction: str = ""  # upgrade or downgrade from the current plan, for Checkout or a switch

    @property
    def plan(self) -> Plan:
        return self.terms.plan

    @property
    def is_current(self) -> bool:
        return self.action == CardAction.CURRENT


def plan_cards(*, plans: list[Plan], customer: Customer | None, signed_in: bool) -> list[PlanCard]:
    current = customer.plan if customer else None
    subscribed = customer is not None and customer.has_live_subscription
    next_plan_id = customer.grandfather_plan_id if customer and customer.is_grandfathered else None
    pending_id = customer.pending_plan_id if customer else None
    cards = []
    for plan in plans:
        action = _card_action(
            plan=plan, current=current, signed_in=signed_in, subscribed=subscribed
        )
        if plan.pk == pending_id and action != CardAction.CURRENT:
            action = CardAction.PENDING
        label = direction = ""
        if action in (CardAction.CHECKOUT, CardAction.SWITCH):
            direction = switch_direction(current=current, target=plan)
            upgrade_checkout = action == CardAction.CHECKOUT and direction == UPGRADE
            label = f"{'Upgrade to' if upgrade_checkout else 'Switch to'} {plan.name}"
        cards.append(
            PlanCard(
                terms=PlanTerms(plan),
                action=action,
                is_next_plan=plan.pk == next_plan_id,
                checkout_label=label,
                direction=direction,
            )
        )
    return cards


def _card_action(*, plan: Plan, current: Plan | None, signed_in: bool, subscribed: bool) -> str:
    if not signed_in:
        return CardAction.SIGN_IN
    if current is None:
        return CardAction.NONE
    if plan.pk == current.pk:
        return CardAction.CURRENT
    # A subscriber moves its subscription to any other paid plan, up or down (prorated); going
    # to free cancels the subscription at the end of the period it has paid for.
    if subscribed:
        return CardAction.SWITCH if plan.price_cents > 0 else CardAction.MOVE_TO_FREE
    # A legacy customer may buy any paid session plan (its own plan is going away); others
    # buy a dearer plan. Moving down is done by staff so that no second subscription starts.
    if plan.price_cents > 0 and (current.is_legacy or plan.price_cents > current.price_cents):
        return CardAction.CHECKOUT
    return CardAction.CONTACT


def status_notice(customer: Customer) -> str | None:
    """The subscription-state warning a customer must see, if any."""
    if customer.status == CustomerStatus.PAST_DUE:
        return "past_due"
    if customer.status == CustomerStatus.CANCELED:
        return "canceled"
    return None


_INVOICE_STATUS = {
    "paid": "Paid",
    "open": "Unpaid",
    "void": "Void",
    "uncollectible": "Uncollectible",
}


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice as the usage page lists it: "18 Nov 2026 · $29.00 · Paid · View"."""

    day: date
    number: str
    amount: str
    status: str  # Stripe's status, for styling
    status_label: str
    url: str


def invoice_lines(rows: list[InvoiceRow]) -> list[InvoiceLine]:
    return [
        InvoiceLine(
            day=row.created.date(),
            number=row.number,
            amount=money(row.total_cents, row.currency),
            status=row.status,
            status_label=_INVOICE_STATUS.get(row.status, row.status.capitalize()),
            url=row.hosted_url,
        )
        for row in rows
    ]


def forecast_sentence(*, forecast, usage: UsageDisplay, today: date) -> str:
    """Where the month is heading, in words, from `usage.selectors.usage_forecast`."""
    unit = usage.unit
    if not forecast.projected:
        return f"No {unit} used yet this month: nothing to project."
    if forecast.exhausts_on is not None and forecast.exhausts_on <= today and usage.is_reached:
        return f"Your quota is used up; it resets on {usage.resets_on.day} {usage.resets_on:%B}."
    if forecast.exhausts_on is not None:
        return (
            f"At this pace you will run out around {forecast.exhausts_on.day} "
            f"{forecast.exhausts_on:%B} (about {format_count(forecast.projected)} {unit} "
            f"by the month's end, for {usage.quota} included)."
        )
    return (
        f"At this pace about {format_count(forecast.projected)} of {usage.quota} {unit} "
        f"by {usage.period_end.day} {usage.period_end:%B}."
    )
