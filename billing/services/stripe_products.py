"""The Stripe products and monthly prices of the paid session plans, made idempotently.

Each plan has a product with our own fixed id (Stripe refuses a second product with the same
id) and one active monthly price found by its lookup key. A run creates what is missing,
replaces a price whose amount, currency or interval no longer matches the plan (the new price
takes the lookup key over and the old one is archived, so existing subscriptions keep it), syncs
both into dj-stripe, and links our plans to the prices. A second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from accounts.errors import InvalidInput
from accounts.models import Plan
from billing import stripe_gateway

# plan code → Stripe product name (the names the pricing team uses)
STRIPE_PRODUCTS = {"starter": "AI Gate - Starter", "growth": "AI Gate - Growth"}
INTERVAL = "month"


def product_id_for(code: str) -> str:
    return f"ai_gate_sessions_{code}"


def lookup_key_for(code: str, currency: str) -> str:
    return f"ai_gate_sessions_{code}_{INTERVAL}ly_{currency}"


@dataclass
class PlanProduct:
    plan: str
    product: str
    price: str
    lookup_key: str
    unit_amount: int
    currency: str
    interval: str
    actions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "product": self.product,
            "price": self.price,
            "lookup_key": self.lookup_key,
            "unit_amount": self.unit_amount,
            "currency": self.currency,
            "interval": self.interval,
        }


@dataclass
class ProductsSetup:
    mode: str
    plans: list[PlanProduct]

    @property
    def changed(self) -> bool:
        return any(plan.actions for plan in self.plans)

    @property
    def env(self) -> dict[str, str]:
        return {f"STRIPE_PRICE_{plan.plan.upper()}": plan.price for plan in self.plans}


def stripe_mode() -> str:
    """ "live" or "test", as the configured secret key decides."""
    return "live" if settings.STRIPE_LIVE_MODE else "test"


def stripe_products_setup(*, mode: str) -> ProductsSetup:
    """Create or reuse the products and prices, sync them into dj-stripe, link our plans.

    `mode` must be the mode of STRIPE_SECRET_KEY ("test" or "live"): a guard against creating
    test products with a live key or the other way round.
    """
    if mode not in ("test", "live"):
        raise InvalidInput(f"Unknown mode {mode!r}: use test or live.", field="mode")
    if not settings.STRIPE_SECRET_KEY:
        raise InvalidInput("STRIPE_SECRET_KEY is empty: set an sk_test_ or sk_live_ key.")
    if mode != stripe_mode():
        raise InvalidInput(
            f"--mode {mode} does not match STRIPE_SECRET_KEY, which is a {stripe_mode()} key.",
            field="mode",
        )
    plans = {plan.code: plan for plan in Plan.objects.filter(code__in=STRIPE_PRODUCTS)}
    missing = sorted(set(STRIPE_PRODUCTS) - set(plans))
    if missing:
        raise InvalidInput(f"Plans missing from the catalogue: {', '.join(missing)}.")
    results = [_plan_product_ensure(plans[code]) for code in STRIPE_PRODUCTS]
    with transaction.atomic():
        for result in results:
            linked = Plan.objects.filter(code=result.plan).exclude(stripe_price_id=result.price)
            if linked.update(stripe_price_id=result.price):
                result.actions.append(f"linked plan {result.plan} to {result.price}")
    return ProductsSetup(mode=mode, plans=results)


def _plan_product_ensure(plan: Plan) -> PlanProduct:
    if plan.price_cents <= 0:
        raise InvalidInput(f"The {plan.code} plan has no price to sell.")
    actions = []
    name = STRIPE_PRODUCTS[plan.code]
    product_id = product_id_for(plan.code)
    metadata = {"ai_gate_plan": plan.code}
    product = stripe_gateway.product_get(product_id=product_id)
    if product is None:
        product = stripe_gateway.product_create(product_id=product_id, name=name, metadata=metadata)
        actions.append(f"created product {product_id}")
    elif (
        product.name != name
        or not product.active
        or product.metadata.get("ai_gate_plan") != plan.code
    ):
        product = stripe_gateway.product_update(
            product_id=product_id, name=name, active=True, metadata=metadata
        )
        actions.append(f"updated product {product_id}")

    currency = plan.currency.lower()
    lookup_key = lookup_key_for(plan.code, currency)
    price = stripe_gateway.price_find(lookup_key=lookup_key)
    if price is None or not _price_matches(price, plan=plan, product_id=product_id):
        old = price
        price = stripe_gateway.price_create(
            product_id=product_id,
            unit_amount=plan.price_cents,
            currency=currency,
            interval=INTERVAL,
            lookup_key=lookup_key,
            metadata=metadata,
            # One key per transition (plan row, amount, the price it replaces): a rerun within
            # Stripe's 24 h window returns the same price instead of making another.
            idempotency_key=f"billing-plan-{plan.pk}-price-{plan.price_cents}{currency}"
            f"-{INTERVAL}-replaces-{old.id if old else 'none'}",
        )
        actions.append(f"created price {price.id} ({plan.price_cents} {currency}/{INTERVAL})")
        if old is not None:
            stripe_gateway.price_archive(price_id=old.id)
            actions.append(f"archived price {old.id}")
    stripe_gateway.catalogue_sync(product=product, price=price)
    return PlanProduct(
        plan=plan.code,
        product=product_id,
        price=price.id,
        lookup_key=lookup_key,
        unit_amount=price.unit_amount,
        currency=price.currency,
        interval=price.recurring["interval"],
        actions=actions,
    )


def _price_matches(price, *, plan: Plan, product_id: str) -> bool:
    recurring = price.recurring or {}
    return (
        price.unit_amount == plan.price_cents
        and price.currency == plan.currency.lower()
        and price.product == product_id
        and recurring.get("interval") == INTERVAL
        and recurring.get("interval_count", 1) == 1
    )
