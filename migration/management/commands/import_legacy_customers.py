"""`manage.py import_legacy_customers CUSTOMERS.csv [--usage USAGE.csv] (--dry-run | --apply)`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.actors import command_actor
from accounts.progress import ProgressBar
from migration.importing.report import CREATE, UPDATE, ImportRejected, ImportReport, Tally
from migration.importing.run import CsvUpload, legacy_customers_import
from migration.management.waiting import add_wait_arguments, wait_for_outboxes

# Files with at least this many lines get a progress bar.
PROGRESS_FROM_LINES = 5000


class Command(BaseCommand):
    help = (
        "Import customers, and optionally their monthly usage, from the old minute-based "
        "system's CSV exports. Every row is checked first; with any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "customers",
            metavar="CUSTOMERS.csv",
            help="user_id, email, plan, price_cents, stripe_customer_id, "
            "stripe_subscription_id, created_at (the last four may be empty).",
        )
        parser.add_argument(
            "--usage",
            metavar="USAGE.csv",
            help="user_id, month (YYYY-MM), total_minutes_used, total_sessions, "
            "successful_sessions.",
        )
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row and show what would change; write nothing.",
        )
        mode.add_argument("--apply", action="store_true", help="Check, then import.")
        parser.add_argument(
            "--actor", default="", help="Who runs it, for the plan history (default: $USER)."
        )
        add_wait_arguments(parser)

    def handle(
        self, *args, customers, usage, dry_run, apply, actor, verbosity, wait, wait_timeout, **_
    ):
        since = timezone.now()
        files = [self._read(customers)] + ([self._read(usage)] if usage else [])
        lines = sum(upload.data.count(b"\n") for upload in files)
        progress = ProgressBar(
            self.stderr, enabled=verbosity >= 1 and lines >= PROGRESS_FROM_LINES, min_total=0
        )
        try:
            report = legacy_customers_import(
                customers=files[0],
                usage=files[1] if usage else None,
                apply=apply,
                actor=actor or command_actor(),
                progress=progress,
            )
        except ImportRejected as exc:
            progress.finish()
            for issue in exc.issues:
                self.stderr.write(str(issue))
            raise CommandError(exc.detail) from exc
        progress.finish()
        self._summary(
            report, names=" and ".join(upload.name for upload in files), verbosity=verbosity
        )
        if wait and apply:
            # An import sends nothing by itself today; this waits for whatever it queued.
            wait_for_outboxes(self, since=since, batch_id=None, timeout=wait_timeout)

    def _read(self, path: str) -> CsvUpload:
        try:
            return CsvUpload.from_path(path)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc

    def _summary(self, report: ImportReport, *, names: str, verbosity: int) -> None:
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))
        if verbosity >= 2:
            for outcome in report.outcomes:
                if outcome.action not in (CREATE, UPDATE) and not outcome.note:
                    continue
                changes = "; ".join(
                    f"{name} {old!r} → {new!r}" if old else f"{name} {new!r}"
                    for name, old, new in outcome.changes
                )
                self.stdout.write(
                    f"{outcome.file}:{outcome.line} {outcome.key}: {outcome.action}"
                    + (f" ({changes})" if changes else "")
                    + (f" ({outcome.note})" if outcome.note else "")
                )
        would = not report.applied
        if would:
            self.stdout.write(f"Dry run: {names} checked, no errors. Nothing was written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported {names}."))
        self.stdout.write(f"Customers: {_counts(report.customers, would=would)}.")
        if report.kept_on_session_plans:
            self.stdout.write(
                f"  {report.kept_on_session_plans:,} of the unchanged are already on a session "
                "plan here and were left as they are."
            )
        if report.usage.total:
            self.stdout.write(f"Monthly usage: {_counts(report.usage, would=would)}.")
        verb = "to record" if would else "recorded"
        self.stdout.write(f"Plan history: {report.plan_changes:,} changes {verb} (source import).")
        if would:
            self.stdout.write("Run again with --apply to import.")


def _counts(tally: Tally, *, would: bool) -> str:
    if not would:
        return str(tally)
    return (
        f"{tally.created:,} to create, {tally.updated:,} to update, {tally.unchanged:,} unchanged"
    )
