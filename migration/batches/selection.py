"""Which customers a bulk operation is about, and reading their rows.

A selection is stored on its batch (as JSON) so that a planned batch can be planned again,
under row locks, when it is applied. Customers are read as plain `CustomerRow` values in id
order (the lock order), in a fixed number of queries whatever their number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from accounts.errors import InvalidInput
from accounts.models import BatchKind, Customer, Plan
from accounts.progress import Progress
from accounts.services.plan_change import CustomerRow

# Ids per IN list when customers are read by id: within every database's limits.
CHUNK = 5000


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class CustomerSelection:
    """Which customers an operation is about. Nothing given: every customer on a legacy plan.

    Several criteria narrow each other down (plans AND ids).
    """

    plan_codes: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    customer_ids: tuple[int, ...] = ()

    @property
    def is_all_legacy(self) -> bool:
        return not (self.plan_codes or self.external_ids or self.customer_ids)

    def as_json(self) -> dict:
        data: dict = {}
        if self.is_all_legacy:
            data["all_legacy"] = True
        if self.plan_codes:
            data["plans"] = list(self.plan_codes)
        if self.external_ids:
            data["customers"] = list(self.external_ids)
        if self.customer_ids:
            data["customer_ids"] = list(self.customer_ids)
        return data

    @classmethod
    def from_json(cls, data: dict) -> CustomerSelection:
        return cls(
            plan_codes=tuple(data.get("plans", ())),
            external_ids=tuple(data.get("customers", ())),
            customer_ids=tuple(int(pk) for pk in data.get("customer_ids", ())),
        )

    def describe(self) -> str:
        parts = []
        if self.plan_codes:
            parts.append("plans " + ", ".join(self.plan_codes))
        if self.external_ids:
            parts.append(f"{len(self.external_ids):,} customer(s) by user_id")
        if self.customer_ids:
            parts.append(f"{len(self.customer_ids):,} selected customer(s)")
        return "; ".join(parts) or "all customers on a legacy plan"


def plans_by_id() -> dict[int, Plan]:
    plans = {plan.pk: plan for plan in Plan.objects.all()}
    for plan in plans.values():  # resolve migrates_to without a query per plan
        plan.migrates_to = plans.get(plan.migrates_to_id)
    return plans


def _resolve_plan_codes(codes: Iterable[str], plans: dict[int, Plan]) -> list[int]:
    by_code = {plan.code: plan for plan in plans.values()}
    unknown = [code for code in codes if code not in by_code]
    if unknown:
        known = ", ".join(sorted(code for code, plan in by_code.items() if plan.is_legacy))
        raise InvalidInput(
            f"Unknown plan(s): {', '.join(unknown)}. Legacy plans: {known}.", field="plans"
        )
    not_legacy = [code for code in codes if not by_code[code].is_legacy]
    if not_legacy:
        raise InvalidInput(
            f"Not a legacy plan: {', '.join(not_legacy)}. Only customers on legacy minute plans "
            "move to session plans.",
            field="plans",
        )
    return [by_code[code].pk for code in codes]


def selected_customer_rows(
    selection: CustomerSelection,
    *,
    kind: str,
    plans: dict[int, Plan],
    now: datetime,
    lock: bool,
    progress: Progress,
) -> tuple[list[CustomerRow], set[int], QuerySet[Customer] | None]:
    """The selected customers ordered by id (the lock order), locked when `lock`; the ids of
    those picked by id who are not on the selected plans (reported as skipped); and, for a
    selection by criteria, the criteria as a queryset (for the usage history query)."""
    criteria = Customer.objects.all()
    if kind == BatchKind.AUTO_MIGRATE:
        criteria = criteria.filter(grandfathered_until__lte=now, migration_exempt=False)
    plan_ids = (
        set(_resolve_plan_codes(selection.plan_codes, plans)) if selection.plan_codes else None
    )
    by_id = bool(selection.external_ids or selection.customer_ids)
    if not by_id and plan_ids:
        criteria = criteria.filter(plan_id__in=plan_ids)
    elif not by_id and kind != BatchKind.AUTO_MIGRATE:
        criteria = criteria.filter(plan_id__in=[pk for pk, p in plans.items() if p.is_legacy])
    queryset = criteria.order_by("pk")
    if lock:
        queryset = queryset.select_for_update()
    if not by_id:
        rows = [CustomerRow.from_values(v) for v in queryset.values_list(*CustomerRow.ROW_FIELDS)]
        progress("reading customers", len(rows), len(rows))
        return rows, set(), criteria

    # Picked by id: read in chunks (keeps each IN list within every database's limits).
    key, wanted = (
        ("pk", sorted(set(selection.customer_ids)))
        if selection.customer_ids
        else ("external_id", sorted(set(selection.external_ids)))
    )
    rows: list[CustomerRow] = []
    for chunk in chunks(wanted):
        values = list(queryset.filter(**{f"{key}__in": chunk}).values_list(*CustomerRow.ROW_FIELDS))
        rows.extend(CustomerRow.from_values(v) for v in values)
        progress("reading customers", len(rows), len(wanted))
    found = {row.customer_id if key == "pk" else row.external_id for row in rows}
    missing = [value for value in wanted if value not in found]
    if missing:
        shown = ", ".join(str(value) for value in missing[:10])
        more = f" and {len(missing) - 10:,} more" if len(missing) > 10 else ""
        raise InvalidInput(f"No customer with id {shown}{more}.", field="customers")
    if selection.customer_ids and selection.external_ids:
        allowed = set(selection.external_ids)
        rows = [row for row in rows if row.external_id in allowed]
    rows.sort(key=lambda row: row.customer_id)
    off_plan = (
        {row.customer_id for row in rows if row.state.plan_id not in plan_ids}
        if plan_ids
        else set()
    )
    return rows, off_plan, None
