"""Customer provisioning and plan changes. Every plan change writes a PlanChange row."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from accounts.errors import InvalidInput, NotFound
from accounts.models import ChangeSource, Customer, MigrationBatch, Plan, PlanChange

logger = logging.getLogger(__name__)

DEFAULT_PLAN_CODE = "free"


def customer_state(customer: Customer) -> dict:
    """The migration-relevant state of a customer, as stored in PlanChange snapshots."""
    return {
        "plan": customer.plan.code,
        "price_cents": customer.plan.price_cents,
        "status": customer.status,
        "grandfathered_until": customer.grandfathered_until.isoformat()
        if customer.grandfathered_until
        else None,
        "grandfather_plan": customer.grandfather_plan.code if customer.grandfather_plan else None,
        "migration_exempt": customer.migration_exempt,
        "stripe_subscription_id": customer.stripe_subscription_id,
        # The price the subscription is billed at on this plan: what a rollback moves it back to.
        "stripe_price_id": customer.plan.stripe_price_id,
    }


def plan_change_record(
    *,
    customer: Customer,
    from_plan: Plan | None,
    before: dict,
    after: dict,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    stripe_event_id: str = "",
) -> PlanChange:
    """Write the audit row of a change already made to `customer` (its plan is the new one).

    Callers hold the customer's row lock and write the row in the same transaction.
    """
    return PlanChange.objects.create(
        customer=customer,
        from_plan=from_plan,
        to_plan=customer.plan,
        from_price_cents=from_plan.price_cents if from_plan else None,
        to_price_cents=customer.plan.price_cents,
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
        stripe_event_id=stripe_event_id,
        state_before=before,
        state_after=after,
    )


def plan_get(*, code: str) -> Plan:
    try:
        return Plan.objects.get(code=code)
    except Plan.DoesNotExist:
        known = ", ".join(
            Plan.objects.order_by("is_legacy", "sort_order").values_list("code", flat=True)
        )
        raise InvalidInput(f"Unknown plan {code!r}. Known plans: {known}.", field="plan") from None


def customer_get(*, external_id: str, for_update: bool = False) -> Customer:
    queryset = Customer.objects.select_related("plan", "grandfather_plan")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(external_id=external_id)
    except Customer.DoesNotExist:
        raise NotFound(f"No customer with user_id {external_id!r}.") from None


def customer_get_or_create(
    *, external_id: str, email: str = "", source: str = ChangeSource.API, actor: str = "api"
) -> tuple[Customer, bool]:
    """Return the customer, provisioning an unknown `user_id` on the free plan (audited)."""
    customer = Customer.objects.select_related("plan").filter(external_id=external_id).first()
    if customer is not None:
        return customer, False
    plan = Plan.objects.get(code=DEFAULT_PLAN_CODE)
    try:
        with transaction.atomic():
            customer = Customer.objects.create(external_id=external_id, email=email, plan=plan)
            PlanChange.objects.create(
                customer=customer,
                from_plan=None,
                to_plan=plan,
                from_price_cents=None,
                to_price_cents=plan.price_cents,
                source=source,
                actor=actor,
                reason="Provisioned on first use",
                state_after=customer_state(customer),
            )
    except IntegrityError:
        # Another request provisioned the same user_id first: use theirs.
        return Customer.objects.select_related("plan").get(external_id=external_id), False
    logger.info("customer provisioned", extra={"customer": external_id, "plan": plan.code})
    return customer, True


@transaction.atomic
def customer_change_plan(
    *,
    customer: Customer,
    plan: Plan,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    stripe_event_id: str = "",
    end_grandfathering: bool = True,
) -> PlanChange | None:
    """Move a customer to `plan` and record it. Returns None when nothing changed.

    Moving a grandfathered customer to another plan ends its grandfathering unless
    `end_grandfathering` is False.
    """
    if not reason and source in (ChangeSource.ADMIN, ChangeSource.COMMAND):
        raise InvalidInput("A reason is required for a manual plan change.", field="reason")
    locked = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("plan", "grandfather_plan")
        .get(pk=customer.pk)
    )
    before = customer_state(locked)
    old_plan = locked.plan
    locked.plan = plan
    if end_grandfathering and plan.pk != old_plan.pk:
        locked.grandfathered_until = None
        locked.grandfather_plan = None
    after = customer_state(locked)
    if before == after:
        return None
    locked.save(update_fields=["plan", "grandfathered_until", "grandfather_plan", "updated_at"])
    change = plan_change_record(
        customer=locked,
        from_plan=old_plan,
        before=before,
        after=after,
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
        stripe_event_id=stripe_event_id,
    )
    # Keep the caller's instance in step with the database.
    customer.plan = locked.plan
    customer.grandfathered_until = locked.grandfathered_until
    customer.grandfather_plan = locked.grandfather_plan
    logger.info(
        "plan changed",
        extra={
            "customer": locked.external_id,
            "from_plan": old_plan.code,
            "to_plan": plan.code,
            "source": source,
            "actor": actor,
        },
    )
    return change


@transaction.atomic
def customer_set_migration_state(
    *,
    customer: Customer,
    source: str,
    actor: str,
    reason: str = "",
    batch: MigrationBatch | None = None,
    grandfathered_until=None,
    grandfather_plan: Plan | None = None,
    migration_exempt: bool | None = None,
) -> PlanChange | None:
    """Set a customer's grandfathering (until + next plan) and exemption, audited.

    Passing `grandfathered_until=None` ends grandfathering. Returns None when nothing changed.
    """
    if grandfathered_until is not None and grandfather_plan is None:
        raise InvalidInput("Grandfathering needs the plan the customer moves to at its end.")
    locked = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("plan", "grandfather_plan")
        .get(pk=customer.pk)
    )
    before = customer_state(locked)
    locked.grandfathered_until = grandfathered_until
    locked.grandfather_plan = grandfather_plan if grandfathered_until is not None else None
    if migration_exempt is not None:
        locked.migration_exempt = migration_exempt
    after = customer_state(locked)
    if before == after:
        return None
    locked.save(
        update_fields=["grandfathered_until", "grandfather_plan", "migration_exempt", "updated_at"]
    )
    customer.grandfathered_until = locked.grandfathered_until
    customer.grandfather_plan = locked.grandfather_plan
    customer.migration_exempt = locked.migration_exempt
    return plan_change_record(
        customer=locked,
        from_plan=locked.plan,
        before=before,
        after=after,
        source=source,
        actor=actor,
        reason=reason,
        batch=batch,
    )
