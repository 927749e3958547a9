"""`manage.py reconcile_stripe [--fix] [--customers USER_IDS]`: compare every customer linked
to Stripe with what Stripe says; change nothing without --fix."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing.services.reconcile import stripe_reconcile


class Command(BaseCommand):
    help = (
        "Compare every customer linked to a Stripe subscription with Stripe (plan from the "
        "price, status) and print each drifted user_id with what differs. Changes nothing "
        "without --fix; with --fix applies Stripe's state (audited, source 'reconcile')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Apply Stripe's state.")
        parser.add_argument(
            "--customers",
            default="",
            help="Only these user_ids, comma-separated (default: everyone linked to Stripe).",
        )

    def handle(self, *args, fix: bool, customers: str, **options):
        user_ids = tuple(u.strip() for u in customers.split(",") if u.strip())
        run = stripe_reconcile(fix=fix, user_ids=user_ids)
        for drift in run.drifted:
            self.stdout.write(drift.line())
        for error in run.errors:
            self.stderr.write(f"not checked: {error}")
        summary = f"Checked {run.checked:,} customer(s): {len(run.drifted):,} drifted"
        if fix and run.not_fixed:
            for drift in run.not_fixed:
                self.stdout.write(f"not fixed: {drift.line()}")
            self.stdout.write(
                self.style.WARNING(
                    f"{summary}, {run.fixed:,} fixed, {len(run.not_fixed):,} not (above)."
                )
            )
        elif fix:
            self.stdout.write(self.style.SUCCESS(f"{summary}, {run.fixed:,} fixed."))
        elif run.drifted:
            self.stdout.write(self.style.WARNING(f"{summary}; run with --fix to apply Stripe's."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{summary}."))
        if run.errors:
            raise CommandError(f"{len(run.errors)} customer(s) could not be checked (above).")
