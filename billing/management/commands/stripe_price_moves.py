"""Send the Stripe price moves still pending (plan changes made while Stripe was down or
refusing, or beyond what the batch sent after commit). Safe to run from cron: each move is
keyed by its PlanChange id, and a subscription already on its price is not touched."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.progress import ProgressBar, write_lines
from billing.models import PriceMoveStatus, StripePriceMove
from billing.services.stripe_price_moves import (
    price_move_count_lines,
    price_move_counts,
    price_moves_process,
)


class Command(BaseCommand):
    help = (
        "Move pending Stripe subscriptions to their new plan's price (no proration), with the "
        "same idempotency key as before. --retry also retries moves that failed because a plan "
        "had no Stripe price id. Prints a summary; exits non-zero when moves remain pending."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--retry",
            action="store_true",
            help="Also retry failed moves (after setting the plan's Stripe price id).",
        )
        parser.add_argument("--batch", type=int, default=None, help="Only this batch's moves.")
        parser.add_argument("--dry-run", action="store_true", help="List only; send nothing.")

    def handle(self, *args, retry, batch, dry_run, **options):
        if dry_run:
            scope = StripePriceMove.objects.filter(status=PriceMoveStatus.PENDING)
            if retry:
                scope = StripePriceMove.objects.filter(
                    status__in=[PriceMoveStatus.PENDING, PriceMoveStatus.FAILED]
                )
            if batch is not None:
                scope = scope.filter(batch_id=batch)
            rows = scope.order_by("id").values_list(
                "subscription_id", "from_price_id", "to_price_id", "status", "attempts"
            )
            write_lines(
                self.stdout,
                (
                    f"{sub}: {old or '?'} → {new or '(no price id)'} "
                    f"[{status}, {attempts} attempt(s)]"
                    for sub, old, new, status, attempts in rows.iterator()
                ),
            )
            write_lines(self.stdout, price_move_count_lines(price_move_counts(batch_id=batch)))
            self.stdout.write(self.style.WARNING("Dry run: nothing sent."))
            return
        progress = ProgressBar(self.stderr)
        run = price_moves_process(batch_id=batch, retry_failed=retry, progress=progress)
        progress.close()
        for message in run.messages[:50]:
            self.stdout.write(f"  {message}")
        self.stdout.write(
            f"Moved {run.done:,}; errors {run.errors:,} (left pending); "
            f"superseded {run.superseded:,}; changed at Stripe since {run.changed_at_stripe:,}"
            + (f"; requeued {run.requeued:,} failed" if retry else "")
            + "."
        )
        if run.stopped_early:
            self.stdout.write(
                self.style.WARNING("Stripe is unreachable: stopped; the rest stay pending.")
            )
        counts = price_move_counts(batch_id=batch)
        write_lines(self.stdout, price_move_count_lines(counts))
        if counts.get(PriceMoveStatus.FAILED):
            self.stdout.write(
                self.style.WARNING(
                    "Failed moves need a plan's Stripe price id set in the admin "
                    "(Plans and customers → Plans); then run this command with --retry."
                )
            )
        if run.errors:
            raise CommandError(f"{run.errors:,} move(s) failed this run and stay pending.")
