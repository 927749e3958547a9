"""Reads of Stripe's state as dj-stripe synced it."""

from __future__ import annotations

from datetime import UTC, datetime

from djstripe.models import Subscription as StripeSubscription

from accounts.models import Customer


def subscription_period_end(customer: Customer) -> datetime | None:
    """The end of the period the customer has paid for through its live subscription (from
    the subscription's item: dahlia keeps the period there), or None without one."""
    if not customer.has_live_subscription:
        return None
    row = StripeSubscription.objects.filter(id=customer.stripe_subscription_id).first()
    if row is None:
        return None
    items = (row.stripe_data.get("items") or {}).get("data") or []
    ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    return datetime.fromtimestamp(min(ends), UTC) if ends else None


def subscription_cancels_at_period_end(customer: Customer) -> bool:
    """Whether Stripe holds the customer's live subscription as ending at its period's end."""
    if not customer.has_live_subscription:
        return False
    row = StripeSubscription.objects.filter(id=customer.stripe_subscription_id).first()
    return bool(row is not None and row.stripe_data.get("cancel_at_period_end"))
