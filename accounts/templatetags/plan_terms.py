"""Template filters that show plan terms to people: prices from cents, quotas with units."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from accounts.formatting import money

register = template.Library()


@register.filter
def dollars(cents) -> str:
    """2900 → "$29", 1950 → "$19.50", 0 → "$0"."""
    return money(cents, short=True)


@register.filter
def monthly_price(plan) -> str:
    """A plan's price in its own currency, as `dollars` writes it: "$29", "€19.50"."""
    return "" if plan is None else money(plan.price_cents, plan.currency, short=True)


@register.filter
def quota(plan) -> str:
    """A plan's monthly quota in its own unit: "5,000 sessions" or "3,000 minutes"."""
    if plan is None:
        return ""
    if plan.bills_minutes:
        return f"{intcomma(plan.included_minutes)} minutes"
    return f"{intcomma(plan.included_sessions)} sessions"
