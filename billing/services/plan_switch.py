"""Switch a paying customer's live Stripe subscription to another plan.

A customer who already pays through a subscription cannot go through Checkout again (that
would start a second subscription and bill twice); `POST /billing/subscription` calls
`subscription_switch_plan`, which moves that subscription's price instead.

What a switch does, in both directions:

* it takes effect now, at Stripe and for the customer's limits, and Stripe prorates it
  (`proration_behavior="create_prorations"`): an upgrade adds the difference for the rest of
  the billing period to the next invoice; a downgrade credits the unused part of the dearer
  plan on the next invoice. Nobody pays for a plan they no longer have, and nothing is
  charged twice; the billing date stays the same.
* a downgrade is refused (409 `usage_over_plan`) when this month's sessions already use up
  the smaller plan's quota: the customer would be refused every session at once. They can
  switch once the month turns.
* a past-due subscription is not switched (409 `past_due`): the failed payment comes first.
* moving to the free plan is a cancellation, not a switch (400, like Checkout).

Our side follows exactly as for any other subscription change: after Stripe answers (and the
gateway synced the subscription into dj-stripe), `subscription_state_apply` — the webhook's
own service — applies the synced state under the customer's row lock, so the page shows the
new plan at once. The `customer.subscription.updated` webhook for the same change then finds
nothing left to do: one audit row per real change, whichever comes first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from accounts.errors import (
    Conflict,
    PaymentPastDue,
    StripeUnavailable,
    SubscriptionMissing,
    UsageOverPlan,
)
from accounts.models import ChangeSource, Customer, CustomerStatus, Plan, PlanChange
from accounts.periods import period_of
from billing import stripe_gateway
from billing.services.checkout import checkout_plan_check
from billing.services.subscriptions import subscription_state_apply
from billing.stripe_plans import plan_price_id
from usage.selectors import usage_summary_for

logger = logging.getLogger(__name__)

UPGRADE = "upgrade"
DOWNGRADE = "downgrade"
PRORATION_BEHAVIOR = "create_prorations"


@dataclass(frozen=True)
class PlanSwitch:
    """The outcome of a switch: the customer's plan and status as now stored."""

    customer: Customer
    direction: str
    subscription_id: str
    changes: list[PlanChange] = field(default_factory=list)

    @property
    def plan(self) -> Plan:
        return self.customer.plan

    @property
    def status(self) -> str:
        return self.customer.status


def switch_direction(*, current: Plan, target: Plan) -> str:
    """A move to a cheaper plan is a downgrade; any other move (dearer, or a legacy plan to a
    session plan of the same price) is an upgrade."""
    return DOWNGRADE if target.price_cents < current.price_cents else UPGRADE


def switch_checked(
    *, customer: Customer, plan: Plan, now: datetime | None = None
) -> tuple[Customer, str, str]:
    """Everything a switch to `plan` must pass, checked before Stripe is asked anything (by
    the switch and by its preview): the customer read again, the plan's Stripe price and the
    direction. Raises as `subscription_switch_plan` says."""
    checkout_plan_check(plan=plan)
    current = Customer.objects.select_related("plan", "pending_plan").get(pk=customer.pk)
    if current.plan_id == plan.pk:
        raise Conflict(f"Customer {current.external_id!r} is already on the {plan.code} plan.")
    if not current.has_live_subscription or not current.stripe_customer_id:
        raise SubscriptionMissing(
            f"Customer {current.external_id!r} pays through no live subscription, so there is "
            "nothing to switch: subscribe with POST /billing/checkout.",
        )
    if current.status == CustomerStatus.PAST_DUE:
        raise PaymentPastDue(
            "The last payment of this subscription failed. Pay the open invoice (or update the "
            "card) before changing plans.",
        )
    direction = switch_direction(current=current.plan, target=plan)
    if direction == DOWNGRADE:
        _usage_fits(customer=current, plan=plan, now=now)
    price_id = plan_price_id(plan)
    if not price_id:
        raise StripeUnavailable(
            f"No Stripe price is configured for the {plan.code} plan "
            "(run `manage.py stripe_setup_products` and set STRIPE_PRICE_*)."
        )
    return current, price_id, direction


def subscription_switch_plan(
    *, customer: Customer, plan: Plan, actor: str, now: datetime | None = None
) -> PlanSwitch:
    """Move the customer's live subscription to `plan`'s price and the customer with it.

    Raises InvalidInput (400) for a free, legacy or non-public plan; Conflict (409 `conflict`)
    when already on `plan`; SubscriptionMissing (409 `no_subscription`: use Checkout) without
    a live subscription; PaymentPastDue (409 `past_due`); UsageOverPlan (409
    `usage_over_plan`) for a downgrade this month's usage does not fit; StripeUnavailable
    (503) when Stripe is unreachable or refuses, or the plan has no Stripe price. Nothing is
    written unless Stripe made the change.
    """
    current, price_id, direction = switch_checked(customer=customer, plan=plan, now=now)
    subscription_id = current.stripe_subscription_id
    key = _idempotency_key(customer=current, price_id=price_id)
    stripe_gateway.subscription_change_price(
        subscription_id=subscription_id,
        price_id=price_id,
        proration_behavior=PRORATION_BEHAVIOR,
        idempotency_key=key,
    )
    if current.pending_plan_id is not None:
        # A switch keeps the subscription: a move to Free pending at the period's end is undone
        # at Stripe now, so that the pages show it renewing (customer_change_plan, below,
        # undoes it in the plan history, and its outbox row finds it done).
        stripe_gateway.subscription_cancel_at_period_end(
            subscription_id=subscription_id, at_period_end=False, idempotency_key=f"{key}-renew"
        )
    changes = subscription_state_apply(
        customer=current,
        stripe_customer_id=current.stripe_customer_id,
        event_id="",
        event_type=f"{direction} to {plan.code} requested by {actor}",
        event_at=None,
        source=ChangeSource.API,
        actor=actor,
    )
    logger.info(
        "subscription switched",
        extra={
            "customer": current.external_id,
            "to_plan": plan.code,
            "direction": direction,
            "subscription": subscription_id,
            "audit_rows": len(changes),
        },
    )
    stored = Customer.objects.select_related("plan").get(pk=current.pk)
    return PlanSwitch(
        customer=stored, direction=direction, subscription_id=subscription_id, changes=changes
    )


def _usage_fits(*, customer: Customer, plan: Plan, now: datetime | None) -> None:
    used = usage_summary_for(customer=customer, period=period_of(now)).sessions_used
    if plan.included_sessions is not None and used >= plan.included_sessions:
        raise UsageOverPlan(
            f"You have used {used:,} sessions this month and {plan.name} includes "
            f"{plan.included_sessions:,}: after the switch every new session would be refused. "
            f"Switch to {plan.name} once this month is over.",
            sessionsUsed=used,
            sessionsIncluded=plan.included_sessions,
        )


def _idempotency_key(*, customer: Customer, price_id: str) -> str:
    # The customer's newest audit row joins the key: a retry of the same switch (nothing
    # written yet) reuses it, while a later switch back to the same price (after a change was
    # recorded) gets a new one instead of Stripe replaying the first answer.
    newest = (
        PlanChange.objects.filter(customer=customer)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return (
        f"plan-switch-{customer.pk}-{customer.stripe_subscription_id}-{price_id}"
        f"-after-{newest or 0}"
    )
