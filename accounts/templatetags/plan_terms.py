"""Template filters that show plan terms to people: prices from cents, quotas with units."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def dollars(cents) -> str:
    """2900 → "$29", 1950 → "$19.50", 0 → "$0"."""
    if cents is None or cents == "":
        return ""
    cents = int(cents)
    whole, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}${intcomma(whole)}" + (f".{rest:02d}" if rest else "")


@register.filter
def quota(plan) -> str:
    """A plan's monthly quota in its own unit: "5,000 sessions" or "3,000 minutes"."""
    if plan is None:
        return ""
    if plan.bills_minutes:
        return f"{intcomma(plan.included_minutes)} minutes"
    return f"{intcomma(plan.included_sessions)} sessions"
