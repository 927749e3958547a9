"""Plan changes that take effect at the end of the customer's paid period, and their undo.

How "at the end of the paid period" works:

* the customer keeps its plan, limits and price until then; `Customer.pending_plan` and
  `pending_plan_at` say what comes and when (the customer's admin page and the pricing page
  show it). Scheduling and undoing are audited like any change (a `PlanChange` row whose
  plan stays the same, `state_after["pending_plan"]` naming what is pending).
* `plan_change_scheduled` is sent in the same transaction: the billing app records what
  Stripe must do. A move to a free plan of a customer paying through a live subscription sets
  the subscription to cancel at the period's end (undo: it is set to renew again); Stripe
  deletes it at the period's end and that webhook moves the customer to Free through
  `customer_change_plan`, like any ended subscription.
* any other pending change is applied when due by the scheduled job
  `scheduled-plan-changes` (`scheduled_plan_changes_apply`, every 5 minutes) through
  `customer_change_plan`; the subscription's price moves then, prorated, so the period that
  has just begun is billed at the new price.
* a real plan change before then (an upgrade, a webhook) replaces the pending one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from accounts.errors import Conflict
from accounts.models import ChangeSource, Customer, CustomerStatus, Plan, PlanChange
from accounts.services.plan_change import (
    PRORATION_PRORATED,
    customer_change_plan,
    customer_lock,
    manual_change_reason,
    pending_plan_drop,
    pending_plan_set,
)

logger = logging.getLogger(__name__)

# The end of a customer's paid period, asked of the layer that knows Stripe (registered by the
# billing app): None for a customer who pays through no live subscription.
_paid_period_end: list[Callable[[Customer], datetime | None]] = []


def paid_period_end_register(lookup: Callable[[Customer], datetime | None]) -> None:
    _paid_period_end[:] = [lookup]


def paid_period_end(customer: Customer) -> datetime | None:
    return _paid_period_end[0](customer) if _paid_period_end else None


@transaction.atomic
def customer_schedule_plan(
    *,
    customer: Customer,
    plan: Plan,
    effective_at: datetime,
    source: str,
    actor: str,
    reason: str = "",
) -> PlanChange:
    """Move the customer to `plan` at `effective_at` (the end of its paid period), audited."""
    reason = manual_change_reason(reason, source)
    locked = customer_lock(customer)
    if plan.pk == locked.plan_id:
        raise Conflict(f"Customer {locked.external_id!r} is already on the {plan.code} plan.")
    if locked.pending_plan_id == plan.pk:
        raise Conflict(
            f"Customer {locked.external_id!r} already moves to {plan.code} on "
            f"{locked.pending_plan_at:%Y-%m-%d}."
        )
    change = pending_plan_set(
        customer=customer,
        locked=locked,
        plan=plan,
        at=effective_at,
        source=source,
        actor=actor,
        reason=reason,
    )
    logger.info(
        "plan change scheduled",
        extra={
            "customer": locked.external_id,
            "to_plan": plan.code,
            "at": effective_at.isoformat(),
            "source": source,
            "actor": actor,
        },
    )
    return change


@transaction.atomic
def customer_unschedule_plan(
    *, customer: Customer, source: str, actor: str, reason: str = ""
) -> PlanChange:
    """Undo the change pending at the period's end: the customer stays on its plan."""
    locked = customer_lock(customer)
    if locked.pending_plan_id is None:
        raise Conflict(f"No plan change is pending for customer {locked.external_id!r}.")
    return pending_plan_drop(
        customer=customer,
        locked=locked,
        source=source,
        actor=actor,
        reason=reason
        or f"kept {locked.plan.code}: the move to {locked.pending_plan.code} is undone",
    )


def awaits_stripe(customer: Customer) -> bool:
    """A move to a free plan of a paying subscriber happens when Stripe ends the subscription
    (its webhook), not on our clock."""
    return customer.has_live_subscription and customer.pending_plan.price_cents == 0


@transaction.atomic
def customer_apply_scheduled_plan(
    *, customer: Customer, now: datetime | None = None
) -> PlanChange | None:
    """Apply the customer's pending change if it is due; None when nothing was due."""
    now = now or timezone.now()
    locked = customer_lock(customer)
    if locked.pending_plan_id is None or locked.pending_plan_at > now or awaits_stripe(locked):
        return None
    plan = locked.pending_plan
    scheduled = (
        PlanChange.objects.filter(customer=locked, state_after__pending_plan=plan.code)
        .order_by("-pk")
        .first()
    )
    why = f"scheduled by {scheduled.actor}: {scheduled.reason}" if scheduled else "scheduled"
    return customer_change_plan(
        customer=customer,
        locked=locked,
        plan=plan,
        source=ChangeSource.SYSTEM,
        actor="scheduler",
        reason=f"end of the paid period ({why})"[:500],
        proration_behavior=PRORATION_PRORATED,
    )


def scheduled_plan_changes_due(*, now: datetime) -> list[Customer]:
    """The customers whose pending change is due, less those it waits for Stripe to make
    (`awaits_stripe`, checked again under the lock): the job does not lock them every run."""
    awaiting_stripe = (
        Q(pending_plan__price_cents=0)
        & ~Q(stripe_subscription_id="")
        & ~Q(status=CustomerStatus.CANCELED)
    )
    return list(
        Customer.objects.filter(pending_plan__isnull=False, pending_plan_at__lte=now)
        .exclude(awaiting_stripe)
        .order_by("pending_plan_at", "pk")
    )


@task()
def scheduled_plan_changes_apply() -> dict:
    """The scheduled job: apply every pending change that is due (one transaction each)."""
    now = timezone.now()
    applied = 0
    for customer in scheduled_plan_changes_due(now=now):
        if customer_apply_scheduled_plan(customer=customer, now=now) is not None:
            applied += 1
    if applied:
        logger.info("scheduled plan changes applied", extra={"applied": applied})
    return {"applied": applied}
