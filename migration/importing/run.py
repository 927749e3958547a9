"""Import customers and their monthly usage from the old minute-based system.

One path for the command (`import_legacy_customers`) and the admin: `legacy_customers_import`
reads the files, checks every row (the file's own rules in `checks`, then against the
database in `decide`) and either reports what it would do (dry run) or does it in one
transaction of bulk statements (`write`). On any error nothing is written and
`ImportRejected` lists every problem with its file, line and reason.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import InvalidInput
from accounts.periods import period_of
from accounts.progress import Progress, no_progress
from migration.importing.checks import CustomerRow, UsageRow, customer_rows_check, usage_rows_check
from migration.importing.decide import ImportWork, import_decide
from migration.importing.parse import (
    CUSTOMER_COLUMNS,
    CUSTOMER_OPTIONAL_COLUMNS,
    USAGE_COLUMNS,
    USAGE_OPTIONAL_COLUMNS,
    CsvTable,
    csv_table_read,
)
from migration.importing.report import ImportIssue, ImportReport
from migration.importing.write import import_write

logger = logging.getLogger(__name__)

SAMPLES_DIR = Path(settings.BASE_DIR) / "samples"
SAMPLE_CUSTOMERS = SAMPLES_DIR / "legacy_customers.csv"
SAMPLE_USAGE = SAMPLES_DIR / "legacy_usage.csv"


@dataclass(frozen=True)
class CsvUpload:
    """A file as uploaded or read from disk: its name (for messages) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path) -> CsvUpload:
        path = Path(path)
        return cls(name=path.name, data=path.read_bytes())


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
    progress = progress or no_progress
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

    def decide(lock: bool) -> ImportWork:
        work = import_decide(
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
        import_write(work, now=now, progress=progress)
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


def _ignored_columns(table: CsvTable) -> list[str]:
    if not table.ignored_columns:
        return []
    return [f"{table.file}: ignored column(s) {', '.join(table.ignored_columns)}"]
