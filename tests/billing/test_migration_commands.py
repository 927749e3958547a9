from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command

from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    EmailNotification,
    MigrationBatch,
    Plan,
    PlanChange,
)
from migration.batches.apply import migration_batch_create, migration_run
from migration.batches.impact import history_periods
from migration.batches.selection import CustomerSelection
from tests.billing.migration_support import database_state, legacy_customer, migration_fields
from tests.factories import CustomerFactory, plan

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
HISTORY = history_periods(NOW)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


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
        assert "E-mails recorded (sent after commit): 1" in out
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


@pytest.mark.django_db
class TestApplyGrandfathering:
    def grandfathered(self, until, **fields):
        return legacy_customer(
            "legacy_build", grandfathered_until=until, grandfather_plan=plan("starter"), **fields
        )

    def test_moves_only_customers_whose_grandfathering_has_ended(
        self, django_capture_on_commit_callbacks
    ):
        ended = self.grandfathered(NOW - timedelta(seconds=1), stripe_subscription_id="sub_1")
        exactly_now = self.grandfathered(NOW)
        later = self.grandfathered(NOW + timedelta(seconds=1))
        exempt = self.grandfathered(NOW - timedelta(days=1), migration_exempt=True)
        with django_capture_on_commit_callbacks(execute=True):
            out, _ = run("apply_grandfathering")
        batch = MigrationBatch.objects.get()
        assert out.splitlines()[-1] == f"batch {batch.pk}"
        assert batch.kind == BatchKind.AUTO_MIGRATE and batch.changed_count == 2
        assert migration_fields(ended) == ("starter", None, None, False)
        assert migration_fields(exactly_now) == ("starter", None, None, False)
        assert migration_fields(later)[0] == "legacy_build"
        assert migration_fields(exempt)[0] == "legacy_build"
        assert set(PlanChange.objects.filter(batch=batch).values_list("source", flat=True)) == {
            ChangeSource.GRANDFATHERING
        }
        assert sorted(m.subject for m in mail.outbox) == ["You're now on AI-Gate Starter"] * 2

    def test_idempotent_hourly_runs(self, django_capture_on_commit_callbacks):
        customer = self.grandfathered(NOW + timedelta(minutes=30))
        with django_capture_on_commit_callbacks(execute=True):
            out, _ = run("apply_grandfathering")
        assert "nothing to do" in out and not MigrationBatch.objects.exists()
        with time_machine.travel(NOW + timedelta(hours=1), tick=False):
            for _ in range(3):
                with django_capture_on_commit_callbacks(execute=True):
                    run("apply_grandfathering")
        assert MigrationBatch.objects.count() == 1
        assert PlanChange.objects.filter(customer=customer).count() == 1
        assert len(mail.outbox) == 1
        assert EmailNotification.objects.filter(customer=customer, kind="migrated").count() == 1

    def test_across_a_month_end_with_a_frozen_clock(self):
        customer = self.grandfathered(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
        with time_machine.travel(datetime(2026, 11, 30, 23, 59, 58, tzinfo=UTC), tick=False):
            run("apply_grandfathering")
            assert migration_fields(customer)[0] == "legacy_build"
        with time_machine.travel(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC), tick=False):
            run("apply_grandfathering")
            assert migration_fields(customer)[0] == "starter"

    def test_as_of_a_past_date_moves_those_ended_by_then(self):
        early = self.grandfathered(datetime(2026, 11, 1, tzinfo=UTC))
        late = self.grandfathered(datetime(2026, 11, 10, tzinfo=UTC))
        run("apply_grandfathering", "--as-of", "2026-11-05")
        assert migration_fields(early)[0] == "starter"
        assert migration_fields(late)[0] == "legacy_build"

    def test_dry_run_lists_who_would_move_and_changes_nothing(self):
        customer = self.grandfathered(NOW - timedelta(days=1))
        before = database_state()
        out, _ = run("apply_grandfathering", "--dry-run")
        assert database_state() == before
        assert customer.external_id in out and "moves now to Starter" in out
        assert "to move: 1" in out

    def test_future_as_of_only_as_a_dry_run(self):
        customer = self.grandfathered(NOW + timedelta(days=10))
        with pytest.raises(CommandError, match="in the future"):
            run("apply_grandfathering", "--as-of", "2026-12-01")
        out, _ = run("apply_grandfathering", "--as-of", "2026-12-01", "--dry-run")
        assert customer.external_id in out
        assert migration_fields(customer)[0] == "legacy_build"

    def test_bad_date_is_an_error(self):
        with pytest.raises(CommandError, match="not a date"):
            run("apply_grandfathering", "--as-of", "tomorrow")


@pytest.mark.django_db
class TestRollbackBatch:
    def test_rollback_is_exact_after_a_mixed_batch(self, django_capture_on_commit_callbacks):
        """Customers in every migration state go through a remap-now batch; rolling it back
        (and then the batches before it) gives each one its exact earlier state."""
        grandfathered = [
            legacy_customer(
                "legacy_pro",
                grandfathered_until=datetime(2027, 1, 31, 8, 30, 15, 123456, tzinfo=UTC),
                grandfather_plan=plan("growth"),
            ),
            legacy_customer(
                "legacy_build",
                grandfathered_until=datetime(2026, 12, 1, tzinfo=UTC),
                grandfather_plan=plan("growth"),  # announced a different plan than the mapping
            ),
        ]
        plain = [
            legacy_customer(code) for code in ("legacy_free", "legacy_starter", "legacy_agency")
        ]
        exempt = legacy_customer("legacy_build", migration_exempt=True)
        to_exempt = legacy_customer("legacy_pro")
        changed_since = legacy_customer("legacy_build")
        session_plan = CustomerFactory(plan=plan("starter"))
        everyone = [*grandfathered, *plain, exempt, to_exempt, changed_since, session_plan]
        initial = {c.pk: migration_fields(c) for c in everyone}
        initial_state = database_state()["customers"]

        # Batch 1 grandfathers `to_exempt`; batch 2 exempts it (cancelling that).
        run("migrate_to_sessions", "--customers", to_exempt.external_id, "--apply")
        exempt_batch = migration_run(
            kind=BatchKind.EXEMPT,
            selection=CustomerSelection(customer_ids=(to_exempt.pk,)),
            actor="tester",
        )
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        remap = MigrationBatch.objects.get(pk=int(out.splitlines()[-1].split()[1]))
        assert remap.changed_count == 6  # 2 grandfathered + 3 plain + changed_since
        assert migration_fields(grandfathered[1]) == ("growth", None, None, False)
        call_command(
            "customer_set_plan",
            changed_since.external_id,
            "growth",
            "--reason",
            "upgrade",
            stdout=StringIO(),
        )

        before = database_state()
        out, _ = run("rollback_batch", str(remap.pk), "--dry-run")
        assert database_state() == before
        assert f"{changed_since.external_id}  LEFT ALONE: changed since by change" in out
        assert "would restore 5 of 6 customer(s)" in out

        out, _ = run("rollback_batch", str(remap.pk))
        assert "restored 5 of 6" in out and "Left alone, changed since by something else: 1" in out
        for customer in [*grandfathered, *plain]:
            assert migration_fields(customer) == initial[customer.pk]
        assert migration_fields(changed_since) == ("growth", None, None, False)
        assert migration_fields(exempt) == initial[exempt.pk]
        remap.refresh_from_db()
        assert remap.status == BatchStatus.ROLLED_BACK and remap.rolled_back_count == 5
        rollback_rows = PlanChange.objects.filter(batch=remap, source=ChangeSource.ROLLBACK)
        assert rollback_rows.count() == 5
        for change in rollback_rows:
            original = PlanChange.objects.get(
                batch=remap, customer=change.customer_id, source=ChangeSource.MIGRATION
            )
            assert change.state_after == original.state_before
            assert change.state_before == original.state_after

        # Again: only the one left alone is pending; --force restores it.
        out, _ = run("rollback_batch", str(remap.pk), "--force")
        assert "restored 1 of 1 customer(s) (5 rolled back before)" in out
        assert migration_fields(changed_since) == initial[changed_since.pk]
        with pytest.raises(CommandError, match="already rolled back"):
            run("rollback_batch", str(remap.pk))

        # Undo the earlier batches, newest first: back to the very first state.
        run("rollback_batch", str(exempt_batch.pk))
        grandfather_batch = MigrationBatch.objects.filter(kind=BatchKind.GRANDFATHER).get()
        run("rollback_batch", str(grandfather_batch.pk))
        assert {c.pk: migration_fields(c) for c in everyone} == initial
        assert [row[:5] for row in database_state()["customers"]] == [
            row[:5] for row in initial_state
        ]

    def test_rollback_restores_grandfathering_of_an_auto_migration_and_warns(self):
        customer = legacy_customer(
            "legacy_pro",
            grandfathered_until=NOW - timedelta(days=1),
            grandfather_plan=plan("growth"),
        )
        out, _ = run("apply_grandfathering")
        batch_id = out.splitlines()[-1].split()[1]
        out, _ = run("rollback_batch", batch_id)
        assert migration_fields(customer) == (
            "legacy_pro",
            NOW - timedelta(days=1),
            "growth",
            False,
        )
        assert "grandfathering that has already ended" in out

    def test_a_later_batch_is_a_change_since(self):
        customer = legacy_customer("legacy_build")
        first, _ = run("migrate_to_sessions", "--apply")
        run("migrate_to_sessions", "--now", "--apply")
        first_id = first.splitlines()[-1].split()[1]
        out, _ = run("rollback_batch", first_id)
        assert "LEFT ALONE" in out and customer.external_id in out
        assert migration_fields(customer)[0] == "starter"

    def test_a_later_status_only_change_does_not_block_the_rollback(self):
        """A webhook recording past_due changes nothing that a rollback restores."""
        from accounts.services.plan_change import customer_state

        customer = legacy_customer("legacy_build")
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        current = Customer.objects.select_related("plan").get(pk=customer.pk)
        before = customer_state(current)
        current.status = "past_due"
        current.save(update_fields=["status"])
        PlanChange.objects.create(
            customer=current,
            from_plan=current.plan,
            to_plan=current.plan,
            from_price_cents=current.plan.price_cents,
            to_price_cents=current.plan.price_cents,
            source=ChangeSource.WEBHOOK,
            actor="stripe",
            reason="invoice.payment_failed",
            state_before=before,
            state_after=customer_state(current),
        )
        out, _ = run("rollback_batch", out.splitlines()[-1].split()[1])
        assert "restored 1 of 1" in out and "LEFT ALONE" not in out
        assert migration_fields(customer)[0] == "legacy_build"
        customer.refresh_from_db()
        assert customer.status == "past_due"  # not a migration field: left as it is

    def test_state_changed_without_a_record_is_also_left_alone(self):
        customer = legacy_customer("legacy_build")
        out, _ = run("migrate_to_sessions", "--apply")
        Customer.objects.filter(pk=customer.pk).update(migration_exempt=True)
        out, _ = run("rollback_batch", out.splitlines()[-1].split()[1])
        assert "changed since outside the plan history" in out

    @pytest.mark.parametrize("args", [["999"], ["abc"]])
    def test_unknown_batch_is_an_error(self, args):
        with pytest.raises(CommandError):
            run("rollback_batch", *args)

    def test_a_renamed_plan_code_is_a_clear_error_and_changes_nothing(self):
        customer = legacy_customer("legacy_build")
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        Plan.objects.filter(code="legacy_build").update(code="old_build")
        before = database_state()
        with pytest.raises(CommandError, match="plan\\(s\\) legacy_build that no longer exist"):
            run("rollback_batch", out.splitlines()[-1].split()[1])
        assert database_state() == before
        assert migration_fields(customer)[0] == "starter"

    def test_a_planned_batch_cannot_be_rolled_back(self):
        legacy_customer("legacy_build")
        batch = migration_batch_create(kind=BatchKind.GRANDFATHER, actor="tester")
        with pytest.raises(CommandError, match="never applied"):
            run("rollback_batch", str(batch.pk))
