"""Move customers on legacy minute plans to session plans: grandfather them (default) or remap
them now. `--dry-run` prints what would happen to each customer and changes nothing."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import BillingError
from accounts.models import BatchKind
from accounts.progress import ProgressBar, write_lines
from billing.services.stripe_price_moves import price_move_count_lines, price_move_counts
from migration.batches.apply import migration_run
from migration.batches.planning import migration_plan
from migration.batches.selection import CustomerSelection
from migration.management.migration_output import plan_lines, totals_lines
from migration.management.waiting import add_wait_arguments, wait_for_outboxes


def comma_list(value: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    if not items:
        raise ValueError("empty list")
    return items


class Command(BaseCommand):
    help = (
        "Move customers on legacy minute plans to session plans (the mapping of each plan's "
        "'migrates to'): grandfather them for N months (default) or remap them now."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--plans",
            type=comma_list,
            default=(),
            help="Legacy plan codes, comma-separated (default: every legacy plan).",
        )
        parser.add_argument(
            "--customers",
            type=comma_list,
            default=(),
            help="Customer user_ids, comma-separated (default: everyone on the plans).",
        )
        when = parser.add_mutually_exclusive_group()
        when.add_argument(
            "--grandfather-months",
            type=int,
            default=None,
            help=f"Keep the legacy plan this many months (default {settings.GRANDFATHER_MONTHS}).",
        )
        when.add_argument("--now", action="store_true", help="Remap now, no grandfathering.")
        parser.add_argument(
            "--notify",
            action="store_true",
            help="E-mail each customer (notice with the move date, or 'moved' with --now).",
        )
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")
        mode.add_argument("--apply", action="store_true", help="Do it.")
        parser.add_argument("--reason", default="", help="Kept in the plan history.")
        parser.add_argument("--actor", default="", help="Who runs it (defaults to $USER).")
        add_wait_arguments(parser)

    def handle(self, *args, **options):
        since = timezone.now()
        kind = BatchKind.REMAP if options["now"] else BatchKind.GRANDFATHER
        months = None if options["now"] else options["grandfather_months"]
        if months is None and kind == BatchKind.GRANDFATHER:
            months = settings.GRANDFATHER_MONTHS
        selection = CustomerSelection(
            plan_codes=options["plans"], external_ids=options["customers"]
        )
        progress = ProgressBar(self.stderr)
        try:
            if options["dry_run"]:
                plan = migration_plan(
                    kind=kind, selection=selection, grandfather_months=months, progress=progress
                )
                progress.close()
                self._report(plan)
                return
            batch = migration_run(
                kind=kind,
                selection=selection,
                grandfather_months=months,
                notify=options["notify"],
                reason=options["reason"] or "Move to session plans",
                actor=options["actor"],
                progress=progress,
            )
        except BillingError as exc:
            progress.close()
            raise CommandError(exc.detail) from exc
        progress.close()
        report = batch.report
        self._header(kind, months, report.get("grandfathered_until"), selection)
        write_lines(self.stdout, totals_lines(report["totals"], verb=self._verb(kind)))
        if batch.notify:
            self.stdout.write(
                f"E-mails recorded (queued for the workers): {report['emails_recorded']:,}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Applied: {batch.changed_count:,} customer(s) changed.")
        )
        write_lines(self.stdout, price_move_count_lines(price_move_counts(batch_id=batch.pk)))
        self.stdout.write(f"batch {batch.pk}")
        if options["wait"]:
            wait_for_outboxes(self, since=since, batch_id=batch.pk, timeout=options["wait_timeout"])

    def _verb(self, kind: str) -> str:
        return "to remap now" if kind == BatchKind.REMAP else "to grandfather"

    def _header(self, kind, months, until, selection) -> None:
        if kind == BatchKind.REMAP:
            self.stdout.write(f"Remap now: {selection.describe()}")
        else:
            self.stdout.write(
                f"Grandfather for {months} month(s), until {until[:10] if until else '-'}: "
                f"{selection.describe()}"
            )

    def _report(self, plan) -> None:
        until = plan.grandfathered_until.isoformat() if plan.grandfathered_until else None
        self._header(plan.kind, plan.grandfather_months, until, plan.selection)
        self.stdout.write(
            f"Estimated sessions = billable minutes of {', '.join(plan.history_labels)} "
            f"/ {plan.minutes_per_session} min per session (the figure in force: see "
            "calibrate_minutes_per_session), where sessions were not recorded."
        )
        write_lines(self.stdout, plan_lines(plan))
        write_lines(self.stdout, totals_lines(plan.totals, verb=self._verb(plan.kind)))
        self.stdout.write(self.style.WARNING("Dry run: nothing changed."))
