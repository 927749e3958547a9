"""`manage.py migrate_to_sessions`: the dry-run report, grandfathering (3 months by default)
or a move now, notices, refusals that change nothing, the progress bar."""

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.management import CommandError

from accounts.models import BatchKind, BatchStatus, EmailNotification, MigrationBatch, PlanChange
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.support import HISTORY, database_state, legacy_customer, migration_fields, run

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.mark.django_db
class TestMigrateToSessions:
    def test_dry_run_prints_each_customer_and_totals_and_changes_nothing(self):
        build = legacy_customer("legacy_build", minutes=("2000", "9000", "10002"), history=HISTORY)
        legacy_customer("legacy_agency", minutes=("100", "200", "300"), history=HISTORY)
        CustomerFactory(plan=plan("growth"))
        before = database_state()
        out, _ = run("migrate_to_sessions", "--dry-run")
        assert database_state() == before
        line = next(line for line in out.splitlines() if line.startswith(build.external_id))
        assert "legacy_build → starter" in line
        assert "$19.00 → $29.00/mo" in line
        assert "2026-08 1,000 · 2026-09 4,500 · 2026-10 5,001 vs 5,000 sessions" in line
        assert "[PAYS MORE, WOULD EXCEED]" in line
        assert "keeps Build (minutes, legacy) until 2027-02-15, then Starter" in line
        assert "Customers selected: 2; to grandfather: 2; skipped: 0" in out
        assert "legacy_build → starter: 1" in out
        assert "Pays more: 1; would exceed the new quota: 1" in out
        assert "Monthly revenue of these customers: $118.00 → $128.00 (+$10.00)" in out
        assert out.rstrip().endswith("Dry run: nothing changed.")

    def test_apply_grandfathers_for_three_months_by_default_and_ends_with_the_batch(self):
        customer = legacy_customer("legacy_pro")
        out, _ = run("migrate_to_sessions", "--apply")
        batch = MigrationBatch.objects.get()
        assert out.splitlines()[-1] == f"batch {batch.pk}"
        assert batch.kind == BatchKind.GRANDFATHER and batch.grandfather_months == 3
        assert batch.status == BatchStatus.APPLIED
        assert batch.selection == {"all_legacy": True}
        assert batch.actor.startswith("command:")
        assert migration_fields(customer) == (
            "legacy_pro",
            datetime(2027, 2, 15, 12, 0, tzinfo=UTC),
            "growth",
            False,
        )

    def test_apply_now_with_plans_and_customers(self):
        a = legacy_customer("legacy_build")
        b = legacy_customer("legacy_build")
        c = legacy_customer("legacy_pro")
        out, _ = run(
            "migrate_to_sessions",
            "--plans",
            "legacy_build,legacy_pro",
            "--customers",
            f"{a.external_id},{c.external_id}",
            "--now",
            "--apply",
        )
        assert out.splitlines()[-1] == f"batch {MigrationBatch.objects.get().pk}"
        assert migration_fields(a)[0] == "starter"
        assert migration_fields(b)[0] == "legacy_build"
        assert migration_fields(c)[0] == "growth"
        assert MigrationBatch.objects.get().kind == BatchKind.REMAP

    def test_grandfather_months_option(self):
        customer = legacy_customer("legacy_starter")
        run("migrate_to_sessions", "--grandfather-months", "6", "--apply")
        assert migration_fields(customer)[1] == datetime(2027, 5, 15, 12, 0, tzinfo=UTC)

    def test_notify_records_and_sends_notices(self, django_capture_on_commit_callbacks):
        legacy_customer("legacy_build")
        with django_capture_on_commit_callbacks(execute=True):
            out, _ = run("migrate_to_sessions", "--notify", "--apply")
        assert "E-mails recorded (queued for the workers): 1" in out
        assert len(mail.outbox) == 1
        assert EmailNotification.objects.get().kind == "migration_notice"

    def test_rerun_skips_customers_already_grandfathered(self):
        legacy_customer("legacy_build")
        run("migrate_to_sessions", "--apply")
        out, _ = run("migrate_to_sessions", "--apply")
        assert "to grandfather: 0" in out
        assert "already grandfathered (use Extend): 1" in out
        assert PlanChange.objects.count() == 1

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--dry-run", "--plans", "legacy_nope"], "Unknown plan"),
            (["--dry-run", "--plans", "starter"], "Not a legacy plan"),
            (["--apply", "--customers", "ghost"], "No customer with id ghost"),
            (["--apply", "--grandfather-months", "0"], "Months must be"),
            (["--plans", "legacy_build"], "one of the arguments --dry-run --apply is required"),
            (["--dry-run", "--apply"], "not allowed with argument"),
            (["--apply", "--now", "--grandfather-months", "2"], "not allowed with argument"),
        ],
    )
    def test_errors_exit_non_zero_and_change_nothing(self, args, message):
        legacy_customer("legacy_build")
        before = database_state()
        with pytest.raises(CommandError, match=message):
            run("migrate_to_sessions", *args)
        assert database_state() == before

    def test_progress_bar_on_large_runs(self, monkeypatch):
        monkeypatch.setattr("accounts.progress.PROGRESS_MIN_TOTAL", 1)
        legacy_customer("legacy_build")
        _, err = run("migrate_to_sessions", "--apply")
        assert (
            "recording plan changes" in err and "[##############################] 100%  1/1" in err
        )

    def test_no_progress_bar_on_small_runs(self):
        legacy_customer("legacy_build")
        _, err = run("migrate_to_sessions", "--apply")
        assert err == ""
