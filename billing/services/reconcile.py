"""Reconciliation with Stripe: every customer linked to a Stripe customer is compared with
what Stripe says now (the governing subscription's price gives the plan, its status ours).
Drift (a lost webhook, a change made in Stripe's dashboard) is reported by `user_id`, and with
`fix` Stripe's state is applied through the same path as a webhook, audited with source
`reconcile`. A customer whose own price move is still on its way to Stripe is not drift; one
whose price move failed is, and the fix cannot mend it (our plan stands until the move is
sent again): the line says so, and only a customer left with no drift is counted as fixed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db.models import Q
from django_tasks import task

from accounts.errors import BillingError
from accounts.models import ChangeSource, Customer
from billing import stripe_gateway
from billing.models import PriceMoveStatus, StripePriceMove
from billing.services.subscriptions import (
    STATUS_FROM_STRIPE,
    UnknownStripePrice,
    governing_subscription,
    plan_for_subscription,
    plan_held_for_our_move,
    subscription_state_apply,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    user_id: str
    differences: tuple[str, ...]

    def line(self) -> str:
        return f"{self.user_id}: {'; '.join(self.differences)}"


@dataclass
class ReconcileRun:
    checked: int = 0
    drifted: list[Drift] = field(default_factory=list)
    fixed: int = 0
    not_fixed: list[Drift] = field(default_factory=list)  # what --fix left as it was
    errors: list[str] = field(default_factory=list)  # customers Stripe could not tell about


def _drift(customer: Customer) -> tuple[str, ...]:
    state = governing_subscription(stripe_customer_id=customer.stripe_customer_id)
    if state is None:
        return ()
    differences = []
    plan = plan_for_subscription(state, current=customer.plan)
    if plan.pk != customer.plan_id:
        difference = (
            f"plan {customer.plan.code} here, {plan.code} at Stripe "
            f"(subscription {state.subscription_id} is {state.status})"
        )
        if plan_held_for_our_move(state):
            # Pending moves are not drift (left out above): this one failed.
            difference += (
                f": our move to {customer.plan.code}'s price failed; send it again "
                "(admin: Stripe price moves, or `manage.py stripe_price_moves --retry`)"
            )
        differences.append(difference)
    status = STATUS_FROM_STRIPE.get(state.status)
    if status is not None and status != customer.status:
        differences.append(f"status {customer.status} here, {status} at Stripe")
    if state.subscription_id != customer.stripe_subscription_id:
        differences.append(
            f"subscription {customer.stripe_subscription_id or '-'} here, "
            f"{state.subscription_id} at Stripe"
        )
    return tuple(differences)


def stripe_reconcile(*, fix: bool = False, user_ids: tuple[str, ...] = ()) -> ReconcileRun:
    """Compare (and with `fix`, align) every customer linked to Stripe, or those named."""
    run = ReconcileRun()
    pending = StripePriceMove.objects.filter(status=PriceMoveStatus.PENDING).values(
        "plan_change__customer_id"
    )
    customers = (
        Customer.objects.select_related("plan")
        .exclude(stripe_customer_id="")
        .exclude(pk__in=pending)
        .order_by("external_id")
    )
    if user_ids:
        customers = customers.filter(Q(external_id__in=user_ids))
    for customer in customers.iterator(chunk_size=200):
        run.checked += 1
        try:
            stripe_gateway.subscriptions_sync(stripe_customer_id=customer.stripe_customer_id)
            differences = _drift(customer)
        except (BillingError, UnknownStripePrice) as exc:
            detail = getattr(exc, "detail", str(exc))
            run.errors.append(f"{customer.external_id}: {detail}")
            continue
        if not differences:
            continue
        run.drifted.append(Drift(customer.external_id, differences))
        if fix:
            subscription_state_apply(
                customer=customer,
                stripe_customer_id=customer.stripe_customer_id,
                event_id="",
                event_type="reconciliation",
                event_at=None,
                source=ChangeSource.RECONCILE,
                actor="reconcile",
            )
            left = _drift(customer)  # the customer as the fix left it
            if left:
                run.not_fixed.append(Drift(customer.external_id, left))
            else:
                run.fixed += 1
    if run.drifted or run.errors:
        logger.warning(
            "stripe reconciliation found drift",
            extra={
                "checked": run.checked,
                "drifted": [d.user_id for d in run.drifted][:100],
                "fixed": run.fixed,
                "not_fixed": [d.user_id for d in run.not_fixed][:100],
                "errors": len(run.errors),
            },
        )
    return run


@task()
def reconcile_with_stripe() -> dict:
    """Scheduled daily: report drift (staff fix it with `reconcile_stripe --fix`)."""
    run = stripe_reconcile()
    return {
        "checked": run.checked,
        "drifted": [drift.line() for drift in run.drifted][:200],
        "errors": run.errors[:200],
    }
