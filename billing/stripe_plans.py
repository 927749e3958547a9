"""Which Stripe price bills which plan.

A plan's price comes from the environment (`STRIPE_PRICE_STARTER`, `STRIPE_PRICE_GROWTH`, the
lines `stripe_setup_products` prints) or else from `Plan.stripe_price_id` (set by the same
command, editable in the admin; legacy plans keep the prices of their old subscriptions there).
"""

from __future__ import annotations

from django.conf import settings

from accounts.models import Plan


def _configured_prices() -> dict[str, str]:
    """Plan code → price id from the environment (empty values left out)."""
    prices = {"starter": settings.STRIPE_PRICE_STARTER, "growth": settings.STRIPE_PRICE_GROWTH}
    return {code: price for code, price in prices.items() if price}


def plan_price_id(plan: Plan) -> str:
    """The Stripe price a new subscription to `plan` uses ("" when none is configured)."""
    return _configured_prices().get(plan.code) or plan.stripe_price_id


def plan_for_price(price_id: str) -> Plan | None:
    """The plan a subscription on `price_id` gives, or None for a price we do not know."""
    if not price_id:
        return None
    for code, configured in _configured_prices().items():
        if configured == price_id:
            return Plan.objects.filter(code=code).first()
    return Plan.objects.filter(stripe_price_id=price_id).order_by("is_legacy", "sort_order").first()
