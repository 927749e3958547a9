"""Finding and provisioning customers. Plan changes go through `accounts.services.plan_change`."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from accounts.errors import InvalidInput, NotFound
from accounts.models import ChangeSource, Customer, Plan
from accounts.services.plan_change import Transition, customer_state, plan_changes_record

logger = logging.getLogger(__name__)

DEFAULT_PLAN_CODE = "free"


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
            plan_changes_record(
                [
                    Transition(
                        customer_id=customer.pk,
                        stripe_subscription_id="",
                        from_plan=None,
                        to_plan=plan,
                        before={},
                        after=customer_state(customer),
                    )
                ],
                source=source,
                actor=actor,
                reason="Provisioned on first use",
            )
    except IntegrityError:
        # Another request provisioned the same user_id first: use theirs.
        return Customer.objects.select_related("plan").get(external_id=external_id), False
    logger.info("customer provisioned", extra={"customer": external_id, "plan": plan.code})
    return customer, True
