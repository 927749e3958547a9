"""What a subscriber does for itself from the pricing page, besides switching plans
(`plan_switch.py`): move to Free at the end of the paid period, undo that, and see what a
switch would cost before confirming it.

* Moving to Free is a cancellation at the period's end: the customer keeps its paid plan until
  then (`customer_schedule_plan`), its subscription is set to cancel then (the outbox, after
  commit), and Stripe's `customer.subscription.deleted` moves it to Free.
* Undoing it (`customer_unschedule_plan`) sets the subscription to renew again.
* The preview is Stripe's own upcoming invoice for the switch (`Invoice.create_preview`):
  the prorated amount for the rest of the period, and the next invoice's total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from accounts.errors import Conflict, StripeUnavailable, SubscriptionMissing
from accounts.models import ChangeSource, Customer, Plan, PlanChange
from accounts.services.customers import DEFAULT_PLAN_CODE
from accounts.services.scheduled_plan import customer_schedule_plan, customer_unschedule_plan
from billing import stripe_gateway
from billing.selectors import subscription_period_end
from billing.services.plan_switch import switch_checked


def _live_subscriber(customer: Customer) -> Customer:
    current = Customer.objects.select_related("plan", "pending_plan").get(pk=customer.pk)
    if not current.has_live_subscription or not current.stripe_customer_id:
        raise SubscriptionMissing(
            f"Customer {current.external_id!r} pays through no live subscription: it is on "
            f"{current.plan.code} and has nothing to cancel or preview."
        )
    return current


def subscription_move_to_free(*, customer: Customer, actor: str) -> PlanChange:
    """Move a subscriber to Free at the end of its paid period (cancel at period end)."""
    current = _live_subscriber(customer)
    free = Plan.objects.get(code=DEFAULT_PLAN_CODE)
    if current.pending_plan_id == free.pk:
        raise Conflict(
            f"Customer {current.external_id!r} already moves to Free on "
            f"{current.pending_plan_at:%Y-%m-%d}."
        )
    ends = subscription_period_end(current)
    if ends is None:
        raise StripeUnavailable(
            "The subscription's paid period is not known yet; try again in a moment."
        )
    return customer_schedule_plan(
        customer=current,
        plan=free,
        effective_at=ends,
        source=ChangeSource.API,
        actor=actor,
        reason="moves to Free at the end of the paid period (cancels the subscription)",
    )


def subscription_keep(*, customer: Customer, actor: str) -> PlanChange:
    """Undo the move to Free at the period's end: the subscription renews as before. (A paid
    plan staff scheduled is theirs to undo, in the admin.)"""
    current = Customer.objects.select_related("pending_plan").get(pk=customer.pk)
    if current.pending_plan_id is None or current.pending_plan.price_cents != 0:
        raise Conflict(f"No move to Free is pending for customer {current.external_id!r}.")
    return customer_unschedule_plan(
        customer=current,
        source=ChangeSource.API,
        actor=actor,
        reason="undone: keeps the subscription",
    )


@dataclass(frozen=True)
class SwitchPreview:
    plan: Plan
    proration_cents: int  # what the switch adds (or credits, < 0) for the rest of the period
    amount_due_cents: int  # the next invoice's total with the switch
    currency: str
    next_invoice_at: datetime | None


def subscription_switch_preview(
    *, customer: Customer, plan: Plan, now: datetime | None = None
) -> SwitchPreview:
    """Stripe's upcoming-invoice preview of switching the subscription to `plan` now; refused
    as the switch itself would be (`switch_checked`)."""
    current, price_id, _ = switch_checked(customer=customer, plan=plan, now=now)
    invoice = stripe_gateway.subscription_change_preview(
        stripe_customer_id=current.stripe_customer_id,
        subscription_id=current.stripe_subscription_id,
        price_id=price_id,
        proration_date=int((now or timezone.now()).timestamp()),
    )
    lines = invoice["lines"]["data"]
    proration = sum(
        line["amount"]
        for line in lines
        if ((line.get("parent") or {}).get("subscription_item_details") or {}).get("proration")
    )
    attempt = invoice.get("next_payment_attempt")
    return SwitchPreview(
        plan=plan,
        proration_cents=proration,
        amount_due_cents=invoice["amount_due"],
        currency=invoice["currency"],
        next_invoice_at=datetime.fromtimestamp(attempt, UTC) if attempt else None,
    )
