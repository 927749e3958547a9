"""What the database already holds for the rows of an import, read in bulk statements."""

from __future__ import annotations

from datetime import date

from django.db import connection

from accounts import bulk
from accounts.models import Customer, Plan, PlanChange
from accounts.rawsql import param_date
from usage.models import MonthlyUsage, Session

USAGE_FIELDS = (
    "total_sessions",
    "successful_sessions",
    "failed_sessions",
    "total_minutes",
    "billable_minutes",
)
CUSTOMER_ATTNAMES = tuple(field.attname for field in Customer._meta.concrete_fields)
# What a new row holds for a field the import does not set (as Customer() would).
_CUSTOMER_DEFAULTS = {
    field.attname: field.get_default() for field in Customer._meta.concrete_fields
}


class CustomerRecord:
    """A customer row as the import reads and writes it, without the cost of a model instance
    per row; `customer_state()` reads it like a Customer."""

    __slots__ = (*CUSTOMER_ATTNAMES, "plan", "grandfather_plan")

    def __init__(self, values: dict, *, plans_by_id: dict[int, Plan]) -> None:
        for name in CUSTOMER_ATTNAMES:
            setattr(self, name, values.get(name, _CUSTOMER_DEFAULTS[name]))
        self.plan = plans_by_id[self.plan_id]
        self.grandfather_plan = plans_by_id.get(self.grandfather_plan_id)

    def move_to(self, plan: Plan) -> None:
        """As customer_change_plan does: another plan ends grandfathering."""
        self.plan, self.plan_id = plan, plan.pk
        self.grandfathered_until = None
        self.grandfather_plan, self.grandfather_plan_id = None, None

    def values(self) -> dict:
        return {name: getattr(self, name) for name in CUSTOMER_ATTNAMES}


def customers_by_external_id(
    user_ids: set[str], *, plans_by_id: dict[int, Plan], lock: bool
) -> dict[str, CustomerRecord]:
    # Locked: a session start of these customers waits (session_start locks the customer).
    rows = bulk.select_in(
        Customer, CUSTOMER_ATTNAMES, key="external_id", values=sorted(user_ids), lock=lock
    )
    found = {}
    for row in rows:
        customer = CustomerRecord(
            dict(zip(CUSTOMER_ATTNAMES, row, strict=True)), plans_by_id=plans_by_id
        )
        found[customer.external_id] = customer
    return found


def customers_whose_plan_changed_here(customer_ids: list[int]) -> set[int]:
    rows = bulk.select_in(
        PlanChange,
        ["customer_id"],
        key="customer_id",
        values=customer_ids,
        where=f"{connection.ops.quote_name('from_plan_id')} IS NOT NULL",
        distinct=True,
    )
    return {customer_id for (customer_id,) in rows}


def stripe_id_owners(column: str, values: set[str]) -> dict[str, str]:
    rows = bulk.select_in(
        Customer, [column, "external_id"], key=column, values=sorted(v for v in values if v)
    )
    return dict(rows)


def _in_months(periods: set[date]) -> tuple[str, list]:
    column = connection.ops.quote_name("period")
    return f"{column} BETWEEN %s AND %s", [param_date(min(periods)), param_date(max(periods))]


def usage_by_customer_and_period(
    customer_ids: list[int], periods: set[date], *, lock: bool
) -> dict[tuple[int, date], dict]:
    if not periods or not customer_ids:
        return {}
    where, params = _in_months(periods)
    names = ["customer_id", "period", *USAGE_FIELDS]
    rows = bulk.select_in(
        MonthlyUsage, names, key="customer_id", values=customer_ids, where=where, params=params,
        lock=lock,
    )  # fmt: skip
    return {(row[0], row[1]): dict(zip(names, row, strict=True)) for row in rows}


def metered_months(customer_ids: list[int], periods: set[date]) -> set[tuple[int, date]]:
    if not periods or not customer_ids:
        return set()
    where, params = _in_months(periods)
    rows = bulk.select_in(
        Session,
        ["customer_id", "period"],
        key="customer_id",
        values=customer_ids,
        where=where,
        params=params,
        distinct=True,
    )
    return set(rows)
