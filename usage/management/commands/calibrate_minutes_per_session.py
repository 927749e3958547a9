"""Measure the minutes of an average session on the last three full months, overall and per
plan; with `--use`, make the measured figure the one every estimate uses (audited)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.actors import command_actor
from accounts.errors import BillingError
from accounts.estimates import default_minutes_per_session, minutes_per_session_stored
from accounts.progress import ProgressBar, write_lines
from usage.calibration import (
    ALL_PLANS,
    STATISTICS,
    calibration_report,
    minutes_per_session_use_measured,
)
from usage.calibration_output import in_force_line, report_lines


class Command(BaseCommand):
    help = (
        "Report the measured minutes per session (median and 90th percentile, overall and per "
        "plan, last three full months); --use makes a figure the one estimates use."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--use",
            action="store_true",
            help="Set the minutes per session that estimates use to the measured figure.",
        )
        parser.add_argument(
            "--statistic",
            choices=sorted(STATISTICS),
            default="median",
            help="Which figure --use takes (default: median).",
        )
        parser.add_argument(
            "--plan",
            default=ALL_PLANS,
            help="Take the figure of the customers on this plan code (default: all plans).",
        )
        parser.add_argument("--reason", default="", help="Kept in the history of the figure.")
        parser.add_argument("--actor", default="", help="Who runs it (defaults to $USER).")

    def handle(self, *args, **options):
        progress = ProgressBar(self.stderr)
        report = calibration_report(progress=progress)
        progress.close()
        write_lines(self.stdout, report_lines(report))
        in_force = in_force_line(minutes_per_session_stored(), default_minutes_per_session())
        self.stdout.write(in_force)
        if not options["use"]:
            self.stdout.write(
                self.style.WARNING(
                    "Nothing changed: --use makes the measured figure the one estimates use."
                )
            )
            return
        try:
            change = minutes_per_session_use_measured(
                scope=options["plan"],
                statistic=options["statistic"],
                actor=options["actor"] or command_actor(),
                reason=options["reason"],
            )
        except BillingError as exc:
            raise CommandError(exc.detail) from exc
        sample = change.sample
        self.stdout.write(
            self.style.SUCCESS(
                f"Minutes per session: {change.previous_value} → {change.value} "
                f"({sample['statistic']} of {sample['customer_months']:,} customer-months, "
                f"{sample['sessions']:,} sessions, {', '.join(sample['months'])})."
            )
        )
