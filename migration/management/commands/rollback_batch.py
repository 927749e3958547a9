"""Roll a migration batch back exactly, from the plan history's `state_before` snapshots."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import BillingError
from accounts.models import MigrationBatch
from accounts.progress import ProgressBar, write_lines
from billing.services.stripe_price_moves import price_move_count_lines, price_move_counts
from migration.batches.rollback import migration_batch_rollback, migration_batch_rollback_plan
from migration.management.migration_output import (
    rollback_lines,
    rollback_summary_lines,
)
from migration.management.waiting import add_wait_arguments, wait_for_outboxes


class Command(BaseCommand):
    help = (
        "Restore each customer of a batch to its plan, grandfathering and exemption as the "
        "batch found them. Customers changed since by something else are left alone unless "
        "--force. Can run again (e.g. with --force) for those left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")
        parser.add_argument(
            "--force", action="store_true", help="Also restore customers changed since."
        )
        parser.add_argument("--reason", default="", help="Kept in the plan history.")
        parser.add_argument("--actor", default="", help="Who runs it (defaults to $USER).")
        add_wait_arguments(parser)

    def handle(self, *args, batch_id, dry_run, force, reason, actor, wait, wait_timeout, **options):
        since = timezone.now()
        batch = MigrationBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise CommandError(f"No batch {batch_id}.")
        progress = ProgressBar(self.stderr)
        try:
            if dry_run:
                plan = migration_batch_rollback_plan(batch=batch, force=force, progress=progress)
            else:
                plan = migration_batch_rollback(
                    batch=batch, actor=actor, force=force, reason=reason, progress=progress
                )
        except BillingError as exc:
            progress.close()
            raise CommandError(exc.detail) from exc
        progress.close()
        if dry_run:
            write_lines(self.stdout, rollback_lines(plan))
        else:
            write_lines(self.stdout, rollback_lines(plan, only_conflicts=True))
        write_lines(self.stdout, rollback_summary_lines(plan, dry_run=dry_run))
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing changed."))
        else:
            write_lines(self.stdout, price_move_count_lines(price_move_counts(batch_id=batch.pk)))
            self.stdout.write(self.style.SUCCESS(f"Batch {batch.pk} rolled back."))
            if wait:
                wait_for_outboxes(self, since=since, batch_id=batch.pk, timeout=wait_timeout)
