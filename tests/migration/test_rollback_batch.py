"""`manage.py rollback_batch`: each customer back to its exact earlier state, unless changed
since (left alone, or restored with --force); refusals that change nothing."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
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
from accounts.services.plan_change import customer_change_plan, customer_state
from migration.batches.apply import migration_batch_create, migration_run
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import CustomerFactory, PlanChangeFactory, plan
from tests.migration.support import NOW, database_state, legacy_customer, migration_fields, run

pytestmark = pytest.mark.usefixtures("frozen_clock")


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
        customer = legacy_customer("legacy_build")
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        current = Customer.objects.select_related("plan").get(pk=customer.pk)
        before = customer_state(current)
        current.status = "past_due"
        current.save(update_fields=["status"])
        PlanChangeFactory(
            customer=current,
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

    def test_a_customer_put_back_by_hand_is_as_before_once_and_not_restored_again(self):
        put_back = legacy_customer("legacy_pro")
        moved = legacy_customer("legacy_build")
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        batch = MigrationBatch.objects.get()
        customer_change_plan(  # staff undo the move for one customer by hand
            customer=Customer.objects.get(pk=put_back.pk),
            plan=plan("legacy_pro"),
            source=ChangeSource.ADMIN,
            actor="admin:staff",
            reason="back to the plan they pay for",
        )
        rows = PlanChange.objects.count()

        out, _ = run("rollback_batch", str(batch.pk), "--force")

        assert "restored 1 of 1 customer(s)" in out
        assert "Already as the batch found them (put back since), nothing to restore: 1" in out
        assert migration_fields(moved)[0] == "legacy_build"
        assert migration_fields(put_back)[0] == "legacy_pro"
        assert PlanChange.objects.count() == rows + 1  # one restore, no no-op row
        batch.refresh_from_db()
        assert (batch.status, batch.rolled_back_count) == (BatchStatus.ROLLED_BACK, 2)
        with pytest.raises(CommandError, match="already rolled back"):
            run("rollback_batch", str(batch.pk), "--force")
        batch.refresh_from_db()
        assert batch.rolled_back_count == 2

    def test_a_batch_all_put_back_by_hand_is_marked_rolled_back_once(self):
        customer = legacy_customer("legacy_pro")
        run("migrate_to_sessions", "--now", "--apply")
        batch = MigrationBatch.objects.get()
        customer_change_plan(
            customer=Customer.objects.get(pk=customer.pk),
            plan=plan("legacy_pro"),
            source=ChangeSource.ADMIN,
            actor="admin:staff",
            reason="back",
        )
        out, _ = run("rollback_batch", str(batch.pk))
        assert "restored 0 of 0 customer(s)" in out and "nothing to restore: 1" in out
        batch.refresh_from_db()
        assert (batch.status, batch.rolled_back_count) == (BatchStatus.ROLLED_BACK, 1)
        with pytest.raises(CommandError, match="already rolled back"):
            run("rollback_batch", str(batch.pk))

    def test_customers_told_of_their_move_are_named_as_told_nothing_by_the_roll_back(
        self, admin_client
    ):
        told = legacy_customer("legacy_build")
        legacy_customer("legacy_pro")
        out, _ = run("migrate_to_sessions", "--now", "--notify", "--apply")
        batch = MigrationBatch.objects.get()
        EmailNotification.objects.filter(customer=told).update(created_at=NOW)
        EmailNotification.objects.exclude(customer=told).delete()  # one of the two was told

        out, _ = run("rollback_batch", str(batch.pk), "--dry-run")

        assert "Warning: 1 of them were e-mailed about their move since this batch" in out
        assert "rolling back sends them nothing: tell them" in out
        page = admin_client.get(f"/admin/accounts/migrationbatch/{batch.pk}/rollback/")
        assert "1 of the customers to restore were e-mailed about their move" in (
            page.content.decode()
        )

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
