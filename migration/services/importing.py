"""Import customers and their monthly usage from the old minute-based system.

One path for the command (`import_legacy_customers`) and the admin: `legacy_customers_import`
reads the files, checks every row (the file's own rules in `billing.legacy_csv`, then against
the database) and either reports what it would do (dry run) or does it in one transaction of
bulk statements. On any error nothing is written and `ImportRejected` lists every problem with
its file, line and reason.

Rules that are not obvious from the files:
* Idempotent on `user_id` and `(user_id, month)`: a row equal to what is stored is left
  unchanged, so a second run reports everything unchanged and records nothing.
* Plan assignments are audited like every plan change: one PlanChange row (source `import`)
  with the same fields `customer_change_plan` writes, including the state snapshots; a plan
  change ends grandfathering, as it does there.
* A customer that has already been moved to a session plan here (its plan changed here) is
  never moved back to a minute plan by an import; it is left as it is. A customer that the
  proxy provisioned on the free plan before the import does get its legacy plan.
* An empty e-mail, Stripe id or `created_at` in the file never erases what is known here (a
  new customer needs an e-mail).
* A month that this portal has metered sessions for is never overwritten by old figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import bulk
from accounts.errors import InvalidInput
from accounts.models import ChangeSource, Customer, CustomerStatus, Plan, PlanChange
from accounts.periods import period_of
from accounts.progress import Progress
from accounts.rawsql import param_date
from accounts.services.plan_change import Transition, customer_state, plan_changes_record
from migration.legacy_csv import (
    CUSTOMER_COLUMNS,
    CUSTOMER_OPTIONAL_COLUMNS,
    OLD_PLAN_CODES,
    OLD_PLAN_NAMES,
    USAGE_COLUMNS,
    USAGE_OPTIONAL_COLUMNS,
    CsvTable,
    CustomerRow,
    ImportIssue,
    UsageRow,
    csv_table_read,
    customer_rows_check,
    usage_rows_check,
)
from usage.models import MonthlyUsage, Session

logger = logging.getLogger(__name__)

SAMPLES_DIR = Path(settings.BASE_DIR) / "samples"
SAMPLE_CUSTOMERS = SAMPLES_DIR / "legacy_customers.csv"
SAMPLE_USAGE = SAMPLES_DIR / "legacy_usage.csv"
USAGE_FIELDS = (
    "total_sessions",
    "successful_sessions",
    "failed_sessions",
    "total_minutes",
    "billable_minutes",
)
# What an import may change on an existing customer (with `updated_at`), and its columns.
CUSTOMER_IMPORTED_FIELDS = (
    "email",
    "plan",
    "stripe_customer_id",
    "stripe_subscription_id",
    "created_at",
    "grandfathered_until",
    "grandfather_plan",
)
UPDATED_CUSTOMER_COLUMNS = (
    "email",
    "plan_id",
    "stripe_customer_id",
    "stripe_subscription_id",
    "created_at",
    "grandfathered_until",
    "grandfather_plan_id",
)

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
ACTIVE, IMPORT = CustomerStatus.ACTIVE.value, ChangeSource.IMPORT.value


@dataclass(frozen=True)
class CsvUpload:
    """A file as uploaded or read from disk: its name (for messages) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path) -> CsvUpload:
        path = Path(path)
        return cls(name=path.name, data=path.read_bytes())


class ImportRejected(InvalidInput):
    code = "import_rejected"

    def __init__(self, issues: Sequence[ImportIssue]) -> None:
        files = ", ".join(dict.fromkeys(issue.file for issue in issues))
        super().__init__(
            f"{len(issues)} error{'s' if len(issues) != 1 else ''} in {files}; nothing was "
            "imported."
        )
        self.issues = list(issues)


@dataclass(frozen=True)
class RowOutcome:
    """What the import does with one row; `changes` holds (field, old, new) for display."""

    file: str
    line: int
    key: str
    action: str
    changes: tuple[tuple[str, str, str], ...] = ()
    note: str = ""


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return f"{self.created:,} created, {self.updated:,} updated, {self.unchanged:,} unchanged"


@dataclass
class ImportReport:
    applied: bool
    customers: Tally = field(default_factory=Tally)
    usage: Tally = field(default_factory=Tally)
    plan_changes: int = 0
    kept_on_session_plans: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


CUSTOMER_ATTNAMES = tuple(field.attname for field in Customer._meta.concrete_fields)


class _Customer:
    """A customer row as the import reads and writes it, without the cost of a model instance
    per row; `customer_state()` reads it like a Customer."""

    __slots__ = (*CUSTOMER_ATTNAMES, "plan", "grandfather_plan")

    def __init__(self, values: dict, *, plans_by_id: dict[int, Plan]) -> None:
        for name in CUSTOMER_ATTNAMES:
            setattr(self, name, values.get(name))
        self.plan = plans_by_id[self.plan_id]
        self.grandfather_plan = plans_by_id.get(self.grandfather_plan_id)

    def move_to(self, plan: Plan) -> None:
        """As customer_change_plan does: another plan ends grandfathering."""
        self.plan, self.plan_id = plan, plan.pk
        self.grandfathered_until = None
        self.grandfather_plan, self.grandfather_plan_id = None, None

    def values(self) -> dict:
        return {name: getattr(self, name) for name in CUSTOMER_ATTNAMES}


@dataclass
class _Work:
    """Everything decided before writing."""

    report: ImportReport
    actor: str = ""
    reason: str = ""
    to_create: list[_Customer] = field(default_factory=list)
    to_update: list[_Customer] = field(default_factory=list)
    # (customer, PlanChange fields); a created customer gets its id when it is inserted.
    plan_changes: list[tuple[_Customer, dict]] = field(default_factory=list)
    # Months new to the database are inserted; months already stored are upserted.
    usage_to_create: list[tuple[_Customer, UsageRow]] = field(default_factory=list)
    usage_to_update: list[tuple[_Customer, UsageRow]] = field(default_factory=list)
    customers_file: str = ""


def legacy_customers_import(
    *,
    customers: CsvUpload | None,
    usage: CsvUpload | None = None,
    apply: bool,
    actor: str,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Check both files whole, then write everything (`apply`) or nothing (dry run).

    Raises ImportRejected listing every error; otherwise returns what was (or would be)
    created, updated and left unchanged.
    """
    if customers is None and usage is None:
        raise InvalidInput("Nothing to import: give a customers file, a usage file or both.")
    now = now or timezone.now()
    progress = progress or _no_progress
    issues: list[ImportIssue] = []
    warnings: list[str] = []
    customer_rows: list[CustomerRow] = []
    usage_rows: list[UsageRow] = []
    users_in_customers_file: set[str] = set()
    if customers is not None:
        progress(f"reading {customers.name}", 0, 0)
        table = csv_table_read(
            customers.data,
            file_name=customers.name,
            columns=CUSTOMER_COLUMNS,
            optional=CUSTOMER_OPTIONAL_COLUMNS,
        )
        customer_rows = customer_rows_check(table, now=now)
        users_in_customers_file = {values.get("user_id", "") for _, values in table.rows}
        issues += table.issues
        warnings += _ignored_columns(table)
    if usage is not None:
        progress(f"reading {usage.name}", 0, 0)
        table = csv_table_read(
            usage.data, file_name=usage.name, columns=USAGE_COLUMNS, optional=USAGE_OPTIONAL_COLUMNS
        )
        usage_rows = usage_rows_check(table, current_month=period_of(now).start)
        issues += table.issues
        warnings += _ignored_columns(table)

    def decide(lock: bool) -> _Work:
        work = _decide(
            customer_rows=customer_rows,
            usage_rows=usage_rows,
            users_in_customers_file=users_in_customers_file,
            customers_file=customers.name if customers else "",
            usage_file=usage.name if usage else "",
            issues=issues,
            actor=actor,
            now=now,
            lock=lock,
            progress=progress,
        )
        work.report.warnings = warnings
        return work

    if not apply:
        return decide(lock=False).report
    with transaction.atomic():
        work = decide(lock=True)
        _write(work, now=now, progress=progress)
    work.report.applied = True
    logger.info(
        "legacy import applied",
        extra={
            "actor": actor,
            "customers": str(work.report.customers),
            "usage": str(work.report.usage),
            "plan_changes": work.report.plan_changes,
        },
    )
    return work.report


def legacy_samples_import(*, actor: str) -> ImportReport:
    """Import the sample files in `samples/` (demo data); a rerun changes nothing."""
    return legacy_customers_import(
        customers=CsvUpload.from_path(SAMPLE_CUSTOMERS),
        usage=CsvUpload.from_path(SAMPLE_USAGE),
        apply=True,
        actor=actor,
    )


# --- deciding -------------------------------------------------------------------------------


def _decide(
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
) -> _Work:
    work = _Work(report=ImportReport(applied=False), customers_file=customers_file)
    issues = list(issues)
    plans = {plan.code: plan for plan in Plan.objects.all()}
    plans_by_id = {plan.pk: plan for plan in plans.values()}
    user_ids = {row.user_id for row in (*customer_rows, *usage_rows) if row.user_id is not None}
    progress("checking against the database", 0, 0)
    existing = _customers_by_external_id(user_ids, plans_by_id=plans_by_id, lock=lock)
    moved_here = _customers_whose_plan_changed_here(
        [customer.id for customer in existing.values() if not customer.plan.is_legacy]
    )
    owners = {
        column: _stripe_id_owners(column, {getattr(row, column) or "" for row in customer_rows})
        for column in ("stripe_customer_id", "stripe_subscription_id")
    }
    reason = f"Imported from the old minute-based system ({customers_file})"
    work.actor, work.reason = actor, reason
    customers_by_user: dict[str, _Customer] = {}
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
    stored_usage = _usage_by_customer_and_period(known_ids, periods, lock=lock)
    metered = _metered_months(known_ids, periods)
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
    work: _Work,
    issues: list[ImportIssue],
    plans: dict[str, Plan],
    plans_by_id: dict[int, Plan],
    current: _Customer | None,
    moved_here: set[int],
    owners: dict[str, dict[str, str]],
    actor: str,
    reason: str,
    now: datetime,
) -> _Customer | None:
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
        customer = _Customer(
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
                    (name, "", _shown(value))
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
        (name, _shown(before[name]), _shown(getattr(current, name)))
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
    customer: _Customer,
    stored: dict | None,
    metered: bool,
    work: _Work,
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


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Plan):
        return value.code
    return str(value)


def _ignored_columns(table: CsvTable) -> list[str]:
    if not table.ignored_columns:
        return []
    return [f"{table.file}: ignored column(s) {', '.join(table.ignored_columns)}"]


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


# --- reading what is stored -------------------------------------------------------------------


def _customers_by_external_id(
    user_ids: set[str], *, plans_by_id: dict[int, Plan], lock: bool
) -> dict[str, _Customer]:
    # Locked: a session start of these customers waits (session_start locks the customer).
    rows = bulk.select_in(
        Customer, CUSTOMER_ATTNAMES, key="external_id", values=sorted(user_ids), lock=lock
    )
    found = {}
    for row in rows:
        customer = _Customer(
            dict(zip(CUSTOMER_ATTNAMES, row, strict=True)), plans_by_id=plans_by_id
        )
        found[customer.external_id] = customer
    return found


def _customers_whose_plan_changed_here(customer_ids: list[int]) -> set[int]:
    rows = bulk.select_in(
        PlanChange,
        ["customer_id"],
        key="customer_id",
        values=customer_ids,
        where=f"{connection.ops.quote_name('from_plan_id')} IS NOT NULL",
        distinct=True,
    )
    return {customer_id for (customer_id,) in rows}


def _stripe_id_owners(column: str, values: set[str]) -> dict[str, str]:
    rows = bulk.select_in(
        Customer, [column, "external_id"], key=column, values=sorted(v for v in values if v)
    )
    return dict(rows)


def _in_months(periods: set[date]) -> tuple[str, list]:
    column = connection.ops.quote_name("period")
    return f"{column} BETWEEN %s AND %s", [param_date(min(periods)), param_date(max(periods))]


def _usage_by_customer_and_period(
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


def _metered_months(customer_ids: list[int], periods: set[date]) -> set[tuple[int, date]]:
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


# --- writing --------------------------------------------------------------------------------


def _write(work: _Work, *, now: datetime, progress: Progress) -> None:
    total = sum(
        map(
            len,
            (
                work.to_create,
                work.to_update,
                work.plan_changes,
                work.usage_to_create,
                work.usage_to_update,
            ),
        )
    )
    done = 0

    def counter(phase: str) -> Callable[[int], None]:
        def step(count: int) -> None:
            nonlocal done
            done += count
            progress(phase, done, total)

        return step

    names, customer_row = bulk.row_factory(Customer)
    try:
        bulk.insert(
            Customer,
            names,
            [customer_row(customer.values()) for customer in work.to_create],
            on_batch=counter("writing customers"),
        )
    except IntegrityError:
        raise ImportRejected(
            [
                ImportIssue(
                    work.customers_file,
                    None,
                    "a customer of this file was created here while the import ran "
                    "(the proxy provisions unknown users): run the import again",
                )
            ]
        ) from None
    bulk.insert(
        Customer,
        names,
        [customer_row(customer.values()) for customer in work.to_update],
        conflict=["external_id"],
        update=[*UPDATED_CUSTOMER_COLUMNS, "updated_at"],
        on_batch=counter("writing customers"),
    )
    created_ids = dict(
        bulk.select_in(
            Customer,
            ["external_id", "id"],
            key="external_id",
            values=[customer.external_id for customer in work.to_create],
        )
    )
    for customer in work.to_create:
        customer.id = created_ids[customer.external_id]

    step = counter("recording plan changes")
    recorded = 0

    def recording(phase: str, done: int, total: int) -> None:
        nonlocal recorded
        step(done - recorded)
        recorded = done

    plan_changes_record(
        [
            Transition(
                customer_id=customer.id,
                stripe_subscription_id=customer.stripe_subscription_id or "",
                **fields,
            )
            for customer, fields in work.plan_changes
        ],
        source=IMPORT,
        actor=work.actor,
        reason=work.reason,
        progress=recording,
    )

    names, usage_row = bulk.row_factory(MonthlyUsage)

    def usage_rows(pairs: list[tuple[_Customer, UsageRow]]) -> list[tuple]:
        return [
            usage_row(
                {
                    "customer_id": customer.id,
                    "period": row.period,
                    "updated_at": now,
                    "total_sessions": row.total_sessions,
                    "successful_sessions": row.successful_sessions,
                    "failed_sessions": row.failed_sessions,
                    "total_minutes": row.total_minutes,
                    "billable_minutes": row.billable_minutes,
                }
            )
            for customer, row in pairs
        ]

    # A month not stored yet cannot appear meanwhile: its customer is new or locked (a
    # session start locks the customer first), so these are plain inserts.
    bulk.insert(
        MonthlyUsage,
        names,
        usage_rows(work.usage_to_create),
        on_batch=counter("writing monthly usage"),
    )
    bulk.insert(
        MonthlyUsage,
        names,
        usage_rows(work.usage_to_update),
        conflict=["customer", "period"],
        update=[*USAGE_FIELDS, "updated_at"],
        on_batch=counter("writing monthly usage"),
    )
