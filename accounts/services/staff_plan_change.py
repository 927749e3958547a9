"""Staff change one customer's plan by hand: the admin's "Change plan" page and
`manage.py customer_set_plan` both call `staff_plan_change` (and show `staff_plan_change_plan`
first), which goes through the one plan-change service.

* now: `customer_change_plan`, with the proration staff chose for the subscription's price
  move (none by default: the next invoice bills the new price; prorated: the difference for
  the rest of the period). Moving a paying customer to a free plan now cancels the
  subscription now.
* at the end of the paid period: `customer_schedule_plan` (`scheduled_plan.py`); a move to a
  free plan sets the subscription to cancel then.
* a customer who pays through no live subscription has no paid period: the change is now, and
  a paid plan given this way is complimentary (marked on the customer and its audit row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from accounts.errors import Conflict, InvalidInput
from accounts.formatting import moment
from accounts.models import Customer, Plan, PlanChange
from accounts.services.plan_change import (
    PRORATION_BEHAVIORS,
    PRORATION_NONE,
    complimentary_for,
    customer_change_plan,
    manual_change_reason,
)
from accounts.services.scheduled_plan import (
    customer_schedule_plan,
    paid_period_end,
)

NOW = "now"
PERIOD_END = "period_end"
WHEN_CHOICES = ((NOW, "Now"), (PERIOD_END, "At the end of the paid period"))


@dataclass(frozen=True)
class StaffPlanChangePlan:
    """What a change would do, for the confirmation page and the command's --dry-run."""

    customer: Customer
    from_plan: Plan
    to_plan: Plan
    when: str
    effective_at: datetime | None  # None: now
    proration_behavior: str
    pays_through_stripe: bool
    complimentary: bool

    @property
    def cancels_subscription(self) -> bool:
        return self.pays_through_stripe and self.to_plan.price_cents == 0

    @property
    def stripe_effect(self) -> str:
        """What happens at Stripe, in staff's words."""
        if not self.pays_through_stripe:
            if self.complimentary:
                return (
                    "Nothing at Stripe: the customer pays through no subscription, so the "
                    f"{self.to_plan.name} plan is complimentary (given for free)."
                )
            return "Nothing at Stripe: the customer pays through no subscription."
        subscription = self.customer.stripe_subscription_id
        if self.cancels_subscription:
            if self.effective_at is not None:
                return (
                    f"Subscription {subscription} is set to cancel at the end of the paid "
                    f"period ({moment(self.effective_at)} UTC). The customer keeps "
                    f"{self.from_plan.name} until Stripe ends it, then moves to "
                    f"{self.to_plan.name}."
                )
            return (
                f"Subscription {subscription} is canceled now; nothing more is billed "
                "(no refund of the current period)."
            )
        if self.effective_at is not None:
            return (
                f"Nothing now. On {moment(self.effective_at)} UTC the subscription "
                f"{subscription} moves to {self.to_plan.name}'s price, prorated so the new "
                "period is billed at the new price."
            )
        billing = (
            "the difference for the rest of this period is prorated on the next invoice"
            if self.proration_behavior != PRORATION_NONE
            else "no proration: the next invoice bills the new price"
        )
        return f"Subscription {subscription} moves to {self.to_plan.name}'s price now ({billing})."


def staff_plan_change_plan(
    *, customer: Customer, plan: Plan, when: str, proration_behavior: str = PRORATION_NONE
) -> StaffPlanChangePlan:
    """Check a change and describe it; raises InvalidInput or Conflict when it cannot be."""
    if when not in (NOW, PERIOD_END):
        raise InvalidInput("Choose when: now or at the end of the paid period.", field="when")
    if proration_behavior not in PRORATION_BEHAVIORS:
        raise InvalidInput("Choose no proration or prorated.", field="proration")
    if plan.pk == customer.plan_id:
        raise Conflict(f"Customer {customer.external_id!r} is already on the {plan.code} plan.")
    effective_at = None
    if when == PERIOD_END:
        effective_at = paid_period_end(customer)
        if effective_at is None:
            raise InvalidInput(
                "This customer pays through no live subscription, so it has no paid period "
                "to wait for: change the plan now.",
                field="when",
            )
    return StaffPlanChangePlan(
        customer=customer,
        from_plan=customer.plan,
        to_plan=plan,
        when=when,
        effective_at=effective_at,
        proration_behavior=proration_behavior,
        pays_through_stripe=customer.has_live_subscription,
        complimentary=complimentary_for(customer=customer, plan=plan, by_staff=True),
    )


@transaction.atomic
def staff_plan_change(
    *,
    customer: Customer,
    plan: Plan,
    when: str,
    source: str,
    actor: str,
    reason: str,
    proration_behavior: str = PRORATION_NONE,
) -> PlanChange:
    """Apply what `staff_plan_change_plan` described; returns the audit row."""
    reason = manual_change_reason(reason, source)
    customer = Customer.objects.select_related("plan", "pending_plan").get(pk=customer.pk)
    planned = staff_plan_change_plan(
        customer=customer, plan=plan, when=when, proration_behavior=proration_behavior
    )
    if planned.effective_at is not None:
        return customer_schedule_plan(
            customer=customer,
            plan=plan,
            effective_at=planned.effective_at,
            source=source,
            actor=actor,
            reason=reason,
        )
    # A change pending at the period's end is replaced (customer_change_plan undoes it).
    return customer_change_plan(
        customer=customer,
        plan=plan,
        source=source,
        actor=actor,
        reason=reason,
        proration_behavior=proration_behavior,
    )
