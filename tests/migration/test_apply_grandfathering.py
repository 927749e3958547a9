"""`manage.py apply_grandfathering` (hourly cron): customers whose grandfathering has ended
move to their announced plan, once, across month ends, as of a past date."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError

from accounts.models import BatchKind, ChangeSource, EmailNotification, MigrationBatch, PlanChange
from tests.accounts.factories import plan
from tests.migration.support import NOW, database_state, legacy_customer, migration_fields, run

pytestmark = pytest.mark.usefixtures("frozen_clock")


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
