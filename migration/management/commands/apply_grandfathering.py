"""Move every customer whose grandfathering has ended to its next plan. Idempotent: safe to
run hourly from cron (a moved customer is no longer grandfathered)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import BillingError
from accounts.progress import ProgressBar, write_lines
from billing.services.stripe_price_moves import price_move_count_lines, price_move_counts
from migration.batches.grandfathering import grandfathering_apply
from migration.management.migration_output import plan_lines, totals_lines
from migration.management.waiting import add_wait_arguments, wait_for_outboxes


def moment(value: str) -> datetime:
    """A date (midnight UTC) or an ISO datetime (UTC unless it says otherwise)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {value!r} (use YYYY-MM-DD or an ISO time)"
        ) from None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Move customers whose grandfathering has ended to their next plan, e-mail them and "
        "queue their Stripe price move. Safe to run hourly."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            type=moment,
            default=None,
            help="YYYY-MM-DD (midnight UTC) or an ISO time; default now. A future time only "
            "with --dry-run.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")
        add_wait_arguments(parser)

    def handle(self, *args, as_of, dry_run, wait, wait_timeout, **options):
        since = timezone.now()
        progress = ProgressBar(self.stderr)
        try:
            run = grandfathering_apply(as_of=as_of, dry_run=dry_run, progress=progress)
        except BillingError as exc:
            progress.close()
            raise CommandError(exc.detail) from exc
        progress.close()
        plan = run.plan
        when = f"{plan.now:%Y-%m-%d %H:%M} UTC"
        if dry_run:
            write_lines(self.stdout, plan_lines(plan))
            write_lines(self.stdout, totals_lines(plan.totals, verb="to move"))
            self.stdout.write(self.style.WARNING(f"Dry run as of {when}: nothing changed."))
            return
        if run.batch is None:
            self.stdout.write(f"Nobody's grandfathering has ended as of {when}; nothing to do.")
            return
        write_lines(self.stdout, totals_lines(run.batch.report["totals"], verb="moved"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Moved {run.batch.changed_count:,} customer(s) as of {when}; "
                f"e-mails recorded (queued for the workers): "
                f"{run.batch.report.get('emails_recorded', 0):,}."
            )
        )
        write_lines(self.stdout, price_move_count_lines(price_move_counts(batch_id=run.batch.pk)))
        self.stdout.write(f"batch {run.batch.pk}")
        if wait:
            wait_for_outboxes(self, since=since, batch_id=run.batch.pk, timeout=wait_timeout)
