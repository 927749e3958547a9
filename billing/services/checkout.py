"""Stripe Checkout: start a hosted payment page that subscribes a customer to a plan.

`POST /billing/checkout` (which the pricing page's "Upgrade" buttons call) and any other
caller use `checkout_session_create`, then send the customer's browser to the returned URL.
Nothing about
the plan changes here: the customer moves to the plan when Stripe's webhooks report the paid
subscription (`billing/services/subscriptions.py`).
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction

from accounts.errors import (
    BillingError,
    Conflict,
    InvalidInput,
    StripeUnavailable,
    SubscriptionExists,
)
from accounts.models import Customer, Plan, PlanChange
from accounts.services.customers import customer_get_or_create, plan_get
from billing import stripe_gateway
from billing.selectors import LIVE_STATUSES
from billing.services.subscriptions import governing_subscription
from billing.stripe_plans import plan_price_id

logger = logging.getLogger(__name__)

# How long one customer's Checkout start is exclusive (released as soon as it is made).
CHECKOUT_START_SECONDS = 30


def checkout_plan_get(*, code: str) -> Plan:
    """The plan with that code if it can be bought through Checkout, else InvalidInput (400)."""
    plan = plan_get(code=code)
    checkout_plan_check(plan=plan)
    return plan


def checkout_plan_check(*, plan: Plan) -> None:
    if plan.is_legacy:
        raise InvalidInput(
            f"The {plan.code} plan is a legacy plan and can no longer be bought.", field="plan"
        )
    if not plan.is_public or plan.price_cents == 0:
        raise InvalidInput(
            f"The {plan.code} plan cannot be bought: choose a paid public plan.", field="plan"
        )


def checkout_start(
    *, external_id: str, email: str, plan: Plan, success_url: str, cancel_url: str
) -> tuple[str, str]:
    """`checkout_session_create` for a `user_id`, which is provisioned on the free plan if
    unknown. A Checkout that fails writes nothing: a customer provisioned for it (that Stripe
    never saw) is removed again, with its provisioning row, and a missing e-mail address is
    saved only once Stripe has taken it. Returns (url, session_id)."""
    customer, created = customer_get_or_create(external_id=external_id, email=email)
    try:
        url, session_id = checkout_session_create(
            customer=customer,
            plan=plan,
            success_url=success_url,
            cancel_url=cancel_url,
            email=email,
        )
    except BillingError:
        if created:
            _unprovision(customer)
        raise
    if email:
        Customer.objects.filter(pk=customer.pk, email="").update(email=email)
    return url, session_id


def _unprovision(customer: Customer) -> None:
    """Remove a customer provisioned for a Checkout that failed, unless something else uses
    it by now (a session started meanwhile) or Stripe made its customer (a retry reuses it)."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().filter(pk=customer.pk).first()
        if locked is None or locked.stripe_customer_id or locked.sessions.exists():
            return
        if PlanChange.objects.filter(customer=locked).count() != 1:
            return
        PlanChange.objects.filter(customer=locked).delete()
        locked.delete()
    logger.info("provisioning undone: checkout failed", extra={"customer": customer.external_id})


def checkout_session_create(
    *, customer: Customer, plan: Plan, success_url: str, cancel_url: str, email: str = ""
) -> tuple[str, str]:
    """Start a Stripe Checkout Session (subscription mode) for `plan`; returns (url, session_id).

    Reuses the customer's Stripe customer, creating it the first time (its id is then saved on
    our row, the only write). Stripe is called outside any transaction.
    `success_url` may contain `{CHECKOUT_SESSION_ID}`, which Stripe fills in.

    Raises InvalidInput (400) for a free, legacy or non-public plan; Conflict (409, code
    `conflict`) when the customer is already on `plan`; SubscriptionExists (409, code
    `subscription_exists`) when it already pays for another plan through a live Stripe
    subscription (a second Checkout would bill twice; that subscription's price is what
    changes); StripeUnavailable (503) when Stripe is not configured, unreachable or refuses,
    or when no Stripe price is configured for the plan.
    """
    checkout_plan_check(plan=plan)
    current = Customer.objects.select_related("plan").get(pk=customer.pk)
    if current.plan_id == plan.pk:
        raise Conflict(f"Customer {current.external_id!r} is already on the {plan.code} plan.")
    if current.has_live_subscription:
        raise SubscriptionExists(
            f"You already pay for the {current.plan.public_name} plan through a subscription; "
            "a second Checkout would bill you twice. Switch that subscription's plan with "
            "POST /billing/subscription instead.",
            subscription=current.stripe_subscription_id,
        )
    price_id = plan_price_id(plan)
    if not price_id:
        raise StripeUnavailable(
            f"No Stripe price is configured for the {plan.code} plan "
            "(run `manage.py stripe_setup_products` and set STRIPE_PRICE_*)."
        )
    if email and not current.email:
        current.email = email  # what Stripe's customer gets; ours is saved once all went well
    # One Checkout at a time per customer: two (two tabs, a double click, the back button
    # before the webhook) would each start a subscription, and both would be billed.
    if not cache.add(f"checkout:{current.pk}", 1, timeout=CHECKOUT_START_SECONDS):
        raise Conflict(
            "A Checkout is already being started for you: use the page it opened, or try "
            "again in a few seconds."
        )
    try:
        if current.stripe_customer_id:  # a new Stripe customer has no earlier Checkout
            _earlier_checkouts_closed(current)
        stripe_customer_id = current.stripe_customer_id or _stripe_customer_create(current)
        metadata = {"user_id": current.external_id, "plan": plan.code}
        session = stripe_gateway.checkout_session_create(
            stripe_customer_id=stripe_customer_id,
            price_id=price_id,
            client_reference_id=str(current.pk),
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    finally:
        cache.delete(f"checkout:{current.pk}")
    logger.info(
        "checkout session created",
        extra={"customer": current.external_id, "plan": plan.code, "session": session.id},
    )
    return session.url, session.id


def _earlier_checkouts_closed(customer: Customer) -> None:
    """Expire the customer's open Checkout Sessions, then ask Stripe whether one of them was
    paid already (its webhook may not have arrived): SubscriptionExists then."""
    stripe_gateway.checkout_sessions_expire_open(stripe_customer_id=customer.stripe_customer_id)
    stripe_gateway.subscriptions_sync(stripe_customer_id=customer.stripe_customer_id)
    state = governing_subscription(stripe_customer_id=customer.stripe_customer_id)
    if state is not None and state.status in LIVE_STATUSES:
        raise SubscriptionExists(
            "You already pay through a subscription started a moment ago; a second Checkout "
            "would bill you twice. Your plan changes as soon as Stripe confirms it.",
            subscription=state.subscription_id,
        )


def _stripe_customer_create(customer: Customer) -> str:
    stripe_customer_id = stripe_gateway.customer_create(customer=customer)
    with transaction.atomic():
        saved = Customer.objects.filter(pk=customer.pk, stripe_customer_id="").update(
            stripe_customer_id=stripe_customer_id
        )
    if not saved:
        # A concurrent request saved one first; Stripe's idempotency key made it the same.
        stripe_customer_id = Customer.objects.values_list("stripe_customer_id", flat=True).get(
            pk=customer.pk
        )
    customer.stripe_customer_id = stripe_customer_id
    return stripe_customer_id
