"""Deciding an import: every checked row compared with the database, creates, updates and
plan changes worked out, and every problem that needs the database found, before anything is
written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from accounts.models import CustomerStatus, Plan
from accounts.progress import Progress
from accounts.services.plan_change import customer_state
from migration.importing.checks import CustomerRow, UsageRow
from migration.importing.parse import OLD_PLAN_CODES, OLD_PLAN_NAMES
from migration.importing.report import (
    CREATE,
    UNCHANGED,
    UPDATE,
    ImportIssue,
    ImportRejected,
    ImportReport,
    RowOutcome,
    shown_value,
)
from migration.importing.stored import (
    USAGE_FIELDS,
    CustomerRecord,
    customers_by_external_id,
    customers_whose_plan_changed_here,
    metered_months,
    stripe_id_owners,
    usage_by_customer_and_period,
)

# What an import may change on an existing customer (with `updated_at`).
CUSTOMER_IMPORTED_FIELDS = (
    "email",
    "plan",
    "stripe_customer_id",
    "stripe_subscription_id",
    "created_at",
    "grandfathered_until",
    "grandfather_plan",
)
ACTIVE = CustomerStatus.ACTIVE.value


@dataclass
class ImportWork:
    """Everything decided before writing."""

    report: ImportReport
    actor: str = ""
    reason: str = ""
    to_create: list[CustomerRecord] = field(default_factory=list)
    to_update: list[CustomerRecord] = field(default_factory=list)
    # (customer, PlanChange fields); a created customer gets its id when it is inserted.
    plan_changes: list[tuple[CustomerRecord, dict]] = field(default_factory=list)
    # Months new to the database are inserted; months already stored are upserted.
    usage_to_create: list[tuple[CustomerRecord, UsageRow]] = field(default_factory=list)
    usage_to_update: list[tuple[CustomerRecord, UsageRow]] = field(default_factory=list)
    customers_file: str = ""


def import_decide(
    *,
    customer_rows: list[CustomerRow],
    usage_rows: list[UsageRow],
    users_in_customers_file: set[str],
    customers_file: str,
    usage_file: str,
    issues: list[ImportIssue],
    actor: str,
    now: datetime,
    lock: bool,
    progress: Progress,
) -> ImportWork:
    work = ImportWork(report=ImportReport(applied=False), customers_file=customers_file)
    issues = list(issues)
    plans = {plan.code: plan for plan in Plan.objects.all()}
    plans_by_id = {plan.pk: plan for plan in plans.values()}
    user_ids = {row.user_id for row in (*customer_rows, *usage_rows) if row.user_id is not None}
    progress("checking against the database", 0, 0)
    existing = customers_by_external_id(user_ids, plans_by_id=plans_by_id, lock=lock)
    moved_here = customers_whose_plan_changed_here(
        [customer.id for customer in existing.values() if not customer.plan.is_legacy]
    )
    owners = {
        column: stripe_id_owners(column, {getattr(row, column) or "" for row in customer_rows})
        for column in ("stripe_customer_id", "stripe_subscription_id")
    }
    reason = f"Imported from the old minute-based system ({customers_file})"
    work.actor, work.reason = actor, reason
    customers_by_user: dict[str, CustomerRecord] = {}
    for row in customer_rows:
        customer = _decide_customer(
            row,
            work=work,
            issues=issues,
            plans=plans,
            plans_by_id=plans_by_id,
            current=existing.get(row.user_id),
            moved_here=moved_here,
            owners=owners,
            actor=actor,
            reason=reason,
            now=now,
        )
        if customer is not None:
            customers_by_user[row.user_id] = customer

    periods = {row.period for row in usage_rows if row.valid}
    known_ids = [customer.id for customer in existing.values()]
    stored_usage = usage_by_customer_and_period(known_ids, periods, lock=lock)
    metered = metered_months(known_ids, periods)
    for row in usage_rows:
        if row.user_id is None:
            continue
        customer = customers_by_user.get(row.user_id) or existing.get(row.user_id)
        if customer is None:
            if row.user_id not in users_in_customers_file:
                issues.append(
                    ImportIssue(
                        usage_file,
                        row.line,
                        f"user_id {row.user_id!r} is neither in "
                        f"{customers_file or 'the customers file'} nor a customer here",
                        column="user_id",
                    )
                )
            continue
        if not row.valid:
            continue
        _decide_usage(
            row,
            customer=customer,
            stored=stored_usage.get((customer.id, row.period)),
            metered=(customer.id, row.period) in metered,
            work=work,
            issues=issues,
            usage_file=usage_file,
        )
    if issues:
        raise ImportRejected(sorted(issues, key=lambda issue: (issue.file, issue.line or 0)))
    work.report.plan_changes = len(work.plan_changes)
    return work


def _decide_customer(
    row: CustomerRow,
    *,
    work: ImportWork,
    issues: list[ImportIssue],
    plans: dict[str, Plan],
    plans_by_id: dict[int, Plan],
    current: CustomerRecord | None,
    moved_here: set[int],
    owners: dict[str, dict[str, str]],
    actor: str,
    reason: str,
    now: datetime,
) -> CustomerRecord | None:
    file, report = work.customers_file, work.report
    problems = len(issues)

    def problem(text: str, column: str) -> None:
        issues.append(ImportIssue(file, row.line, text, column=column))

    plan = _plan_for_row(row, plans=plans, problem=problem) if row.plan is not None else None
    if plan is not None and row.price_cents is not None and row.price_cents != plan.price_cents:
        priced = [
            OLD_PLAN_NAMES[p.code]
            for p in plans.values()
            if p.code in OLD_PLAN_NAMES and p.price_cents == row.price_cents
        ]
        hint = f"; {row.price_cents} is the price of {' or '.join(map(repr, priced))}"
        problem(
            f"price_cents {row.price_cents} does not match plan {row.plan!r}, which costs "
            f"{plan.price_cents}{hint if priced else ''}",
            "price_cents",
        )
    keep = (
        current is not None
        and not current.plan.is_legacy
        and current.id in moved_here
        and plan is not None
        and plan.is_legacy
    )
    if row.user_id is None:
        return None  # nothing else to check against what is stored
    if current is None and row.email == "":
        problem("email is empty (a new customer needs one)", "email")
    if not keep:
        for column, owner_of in owners.items():
            value = getattr(row, column)
            owner = owner_of.get(value)
            if value and owner is not None and owner != row.user_id:
                problem(f"{column} {value} already belongs to customer {owner!r} here", column)
    if not row.valid or len(issues) > problems or plan is None:
        return None

    if keep:
        report.kept_on_session_plans += 1
        report.customers.unchanged += 1
        report.outcomes.append(
            RowOutcome(
                file,
                row.line,
                row.user_id,
                UNCHANGED,
                note=f"already moved to the session plan {current.plan.code!r} here: "
                "left as it is (an import never moves a customer back to a minute plan)",
            )
        )
        return current

    if current is None:
        customer = CustomerRecord(
            {
                "external_id": row.user_id,
                "email": row.email,
                "plan_id": plan.pk,
                "status": ACTIVE,
                "stripe_customer_id": row.stripe_customer_id,
                "stripe_subscription_id": row.stripe_subscription_id,
                "migration_exempt": False,
                "created_at": row.created_at or now,
                "updated_at": now,
            },
            plans_by_id=plans_by_id,
        )
        work.to_create.append(customer)
        work.plan_changes.append(
            (
                customer,
                _plan_change_fields(
                    from_plan=None,
                    to_plan=plan,
                    before={},
                    after=customer_state(customer),
                ),
            )
        )
        report.customers.created += 1
        report.outcomes.append(
            RowOutcome(
                file,
                row.line,
                row.user_id,
                CREATE,
                tuple(
                    (name, "", shown_value(value))
                    for name, value in (
                        ("email", customer.email),
                        ("plan", plan.code),
                        ("stripe_customer_id", customer.stripe_customer_id),
                        ("stripe_subscription_id", customer.stripe_subscription_id),
                        ("created_at", row.created_at),
                    )
                    if value
                ),
            )
        )
        return customer

    before_state = customer_state(current)
    before = {name: getattr(current, name) for name in CUSTOMER_IMPORTED_FIELDS}
    old_plan = current.plan
    if row.email:
        current.email = row.email
    if row.stripe_customer_id:
        current.stripe_customer_id = row.stripe_customer_id
    if row.stripe_subscription_id:
        current.stripe_subscription_id = row.stripe_subscription_id
    if row.created_at:
        current.created_at = row.created_at
    if plan.pk != old_plan.pk:
        current.move_to(plan)
    changes = tuple(
        (name, shown_value(before[name]), shown_value(getattr(current, name)))
        for name in CUSTOMER_IMPORTED_FIELDS
        if before[name] != getattr(current, name)
    )
    if not changes:
        report.customers.unchanged += 1
        report.outcomes.append(RowOutcome(file, row.line, row.user_id, UNCHANGED))
        return current
    current.updated_at = now
    work.to_update.append(current)
    after_state = customer_state(current)
    if after_state != before_state:
        work.plan_changes.append(
            (
                current,
                _plan_change_fields(
                    from_plan=old_plan,
                    to_plan=current.plan,
                    before=before_state,
                    after=after_state,
                ),
            )
        )
    report.customers.updated += 1
    report.outcomes.append(RowOutcome(file, row.line, row.user_id, UPDATE, changes))
    return current


def _plan_for_row(row: CustomerRow, *, plans: dict[str, Plan], problem) -> Plan | None:
    if row.explicit_plan_code:
        plan = plans.get(row.plan_code)
        if plan is None:
            problem(
                f"plan_code {row.plan_code!r} is not a plan here (plans: {', '.join(plans)})",
                "plan_code",
            )
            return None
        expected = OLD_PLAN_NAMES.get(plan.code, plan.code)
        if row.plan != expected:
            problem(
                f"plan {row.plan!r} and plan_code {plan.code!r} disagree "
                f"(plan_code {plan.code!r} goes with plan {expected!r})",
                "plan",
            )
            return None
        return plan
    plan = plans.get(row.plan_code) if row.plan_code else None
    if plan is None:
        known = ", ".join(OLD_PLAN_CODES)
        if row.plan in plans and not plans[row.plan].is_legacy:
            problem(
                f"plan {row.plan!r} is a plan of the new session pricing; this import takes "
                f"the old system's plans ({known})",
                "plan",
            )
        else:
            problem(f"plan {row.plan!r} is not a plan of the old system ({known})", "plan")
    return plan


def _decide_usage(
    row: UsageRow,
    *,
    customer: CustomerRecord,
    stored: dict | None,
    metered: bool,
    work: ImportWork,
    issues: list[ImportIssue],
    usage_file: str,
) -> None:
    key = f"{row.user_id} {row.period.isoformat()[:7]}"
    if stored is None:
        work.usage_to_create.append((customer, row))
        work.report.usage.created += 1
        work.report.outcomes.append(
            RowOutcome(
                usage_file,
                row.line,
                key,
                CREATE,
                (
                    ("total_sessions", "", str(row.total_sessions)),
                    ("successful_sessions", "", str(row.successful_sessions)),
                    ("failed_sessions", "", str(row.failed_sessions)),
                    ("total_minutes", "", str(row.total_minutes)),
                    ("billable_minutes", "", str(row.billable_minutes)),
                ),
            )
        )
        return
    changes = tuple(
        (name, str(stored[name]), str(getattr(row, name)))
        for name in USAGE_FIELDS
        if stored[name] != getattr(row, name)
    )
    if not changes:
        work.report.usage.unchanged += 1
        work.report.outcomes.append(RowOutcome(usage_file, row.line, key, UNCHANGED))
        return
    if metered:
        issues.append(
            ImportIssue(
                usage_file,
                row.line,
                f"{row.period:%Y-%m} of {row.user_id!r} holds sessions metered by this portal "
                f"({stored['total_sessions']} sessions): old figures would overwrite them; "
                "remove this row",
            )
        )
        return
    work.usage_to_update.append((customer, row))
    work.report.usage.updated += 1
    work.report.outcomes.append(RowOutcome(usage_file, row.line, key, UPDATE, changes))


def _plan_change_fields(
    *, from_plan: Plan | None, to_plan: Plan, before: dict, after: dict
) -> dict:
    """What the audit row of one imported customer records (written by the plan-change
    service's `plan_changes_record`, in bulk)."""
    return {"from_plan": from_plan, "to_plan": to_plan, "before": before, "after": after}
