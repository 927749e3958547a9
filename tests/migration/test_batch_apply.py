"""Applying a migration batch (`migration/batches/apply.py`, `operations.py`, `notices.py`):
each kind of operation, the audit snapshots, grouped writes, notices once, all or nothing."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core import mail

from accounts.errors import Conflict
from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    EmailNotification,
    MigrationBatch,
    PlanChange,
)
from accounts.services.plan_change import customer_state
from migration.batches.apply import migration_batch_apply, migration_batch_create, migration_run
from migration.batches.notices import migration_notices_send
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import plan
from tests.migration.support import (
    HISTORY,
    NOW,
    database_state,
    legacy_customer,
    migration_fields,
)
from tests.usage.factories import MonthlyUsageFactory

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.mark.django_db
class TestApply:
    def test_grandfather_records_snapshots_equal_to_customer_state(self):
        customer = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        before = customer_state(Customer.objects.get(pk=customer.pk))
        batch = migration_run(
            kind=BatchKind.GRANDFATHER, grandfather_months=3, actor="tester", reason="move"
        )
        after = customer_state(Customer.objects.get(pk=customer.pk))
        change = PlanChange.objects.get(batch=batch)
        assert change.state_before == before
        assert change.state_after == after
        assert after["grandfathered_until"] == "2027-02-15T12:00:00+00:00"
        assert after["grandfather_plan"] == "starter"
        assert change.source == ChangeSource.MIGRATION and change.actor == "tester"
        assert change.reason == "move"
        assert change.from_plan.code == change.to_plan.code == "legacy_build"
        batch.refresh_from_db()
        assert batch.status == BatchStatus.APPLIED and batch.changed_count == 1
        assert batch.mapping == {"legacy_build": "starter"}
        assert batch.report["totals"]["changing"] == 1
        assert batch.report["rows"][0][0] == customer.external_id

    def test_remap_moves_now_and_ends_grandfathering(self):
        waiting = legacy_customer(
            "legacy_pro", grandfathered_until=NOW, grandfather_plan=plan("growth")
        )
        plain = legacy_customer("legacy_starter")
        batch = migration_run(kind=BatchKind.REMAP, actor="tester")
        assert migration_fields(waiting) == ("growth", None, None, False)
        assert migration_fields(plain) == ("starter", None, None, False)
        changes = PlanChange.objects.filter(batch=batch)
        assert {(c.from_price_cents, c.to_price_cents) for c in changes} == {
            (3900, 9900),
            (900, 2900),
        }

    def test_many_customers_are_written_with_grouped_updates(self, django_assert_max_num_queries):
        customers = [legacy_customer("legacy_build") for _ in range(60)]
        with django_assert_max_num_queries(20):
            migration_run(kind=BatchKind.GRANDFATHER, actor="tester")
        assert Customer.objects.filter(grandfather_plan__code="starter").count() == 60
        assert PlanChange.objects.filter(customer__in=customers).count() == 60

    def test_extend_adds_months_to_each_customers_own_date(self):
        a = legacy_customer(
            "legacy_pro",
            grandfathered_until=datetime(2026, 12, 31, tzinfo=UTC),
            grandfather_plan=plan("growth"),
        )
        b = legacy_customer(
            "legacy_build",
            grandfathered_until=datetime(2027, 1, 10, tzinfo=UTC),
            grandfather_plan=plan("starter"),
        )
        c = legacy_customer("legacy_build")
        migration_run(
            kind=BatchKind.EXTEND,
            selection=CustomerSelection(customer_ids=(a.pk, b.pk, c.pk)),
            grandfather_months=2,
            actor="tester",
        )
        assert migration_fields(a)[1] == datetime(2027, 2, 28, tzinfo=UTC)
        assert migration_fields(b)[1] == datetime(2027, 3, 10, tzinfo=UTC)
        assert migration_fields(c)[1] is None

    def test_exempt_cancels_grandfathering_and_remove_exemption_undoes_the_flag(self):
        customer = legacy_customer(
            "legacy_pro", grandfathered_until=NOW, grandfather_plan=plan("growth")
        )
        selection = CustomerSelection(customer_ids=(customer.pk,))
        migration_run(kind=BatchKind.EXEMPT, selection=selection, actor="tester")
        assert migration_fields(customer) == ("legacy_pro", None, None, True)
        migration_run(kind=BatchKind.REMOVE_EXEMPTION, selection=selection, actor="tester")
        assert migration_fields(customer) == ("legacy_pro", None, None, False)

    def test_end_grandfathering_moves_to_the_announced_plan(self):
        customer = legacy_customer(
            "legacy_build",
            grandfathered_until=datetime(2027, 1, 1, tzinfo=UTC),
            grandfather_plan=plan("growth"),  # announced growth, not the mapping's starter
        )
        migration_run(
            kind=BatchKind.END_GRANDFATHERING,
            selection=CustomerSelection(customer_ids=(customer.pk,)),
            actor="tester",
        )
        assert migration_fields(customer) == ("growth", None, None, False)

    def test_planned_batch_is_applied_later_against_current_data(self):
        first = legacy_customer("legacy_build")
        batch = migration_batch_create(kind=BatchKind.GRANDFATHER, actor="tester")
        assert batch.status == BatchStatus.PLANNED and batch.changed_count == 1
        assert PlanChange.objects.filter(batch=batch).count() == 0
        second = legacy_customer("legacy_pro")  # arrived after the dry run
        migration_batch_apply(batch=batch)
        batch.refresh_from_db()
        assert batch.status == BatchStatus.APPLIED and batch.changed_count == 2
        assert {first.pk, second.pk} == set(
            PlanChange.objects.filter(batch=batch).values_list("customer_id", flat=True)
        )
        with pytest.raises(Conflict):
            migration_batch_apply(batch=batch)

    def test_notify_sends_one_notice_per_customer_after_commit_and_never_twice(
        self, django_capture_on_commit_callbacks
    ):
        customer = legacy_customer("legacy_build", email="build@example.com")
        legacy_customer("legacy_pro", email="")  # no address: nothing recorded
        with django_capture_on_commit_callbacks(execute=True):
            migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["build@example.com"]
        assert message.subject == "Your AI-Gate plan moves to Starter on February 15, 2027"
        assert "5,000 sessions" in message.body and "$29/month" in message.body
        assert "February 15, 2027" in message.alternatives[0][0]
        notification = EmailNotification.objects.get(customer=customer)
        assert notification.dedupe_key == "move-2027-02-15" and notification.sent_at
        # Sending the notice again for the same move date sends nothing more.
        with django_capture_on_commit_callbacks(execute=True):
            again = migration_notices_send(selection=CustomerSelection(customer_ids=(customer.pk,)))
        assert again.rows[0].skip_reason == "already notified of this date"
        assert len(mail.outbox) == 1
        assert EmailNotification.objects.count() == 1

    def test_each_notice_shows_that_customers_months_and_the_plan_that_fits(
        self, django_capture_on_commit_callbacks
    ):
        """Issue 13, point 8: its own last three months against the new plan; when they would
        not fit, the plan that does, with a link to choose it."""
        small = legacy_customer("legacy_build", email="small@example.com")
        legacy_customer("legacy_build", email="idle@example.com")
        busy = legacy_customer("legacy_build", email="busy@example.com")
        for period, sessions in zip(HISTORY, (2100, 1950, 2300), strict=True):
            MonthlyUsageFactory(
                customer=small,
                period=period.start,
                total_sessions=sessions,
                successful_sessions=sessions,
            )
            MonthlyUsageFactory(
                customer=busy,
                period=period.start,
                total_sessions=sessions * 3,
                successful_sessions=sessions * 3,
            )
        with django_capture_on_commit_callbacks(execute=True):
            migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
        bodies = {m.to[0]: m.body for m in mail.outbox}
        htmls = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
        assert (
            "In the last three months you used 2,100, 1,950 and 2,300 sessions; Starter "
            "includes 5,000 sessions for $29." in bodies["small@example.com"]
        )
        assert "would not fit" not in bodies["small@example.com"]
        assert "last three months" not in bodies["idle@example.com"]  # nothing to compare
        assert "you used 6,300, 5,850 and 6,900 sessions" in bodies["busy@example.com"]
        assert (
            "Your busiest month would not fit in Starter: Growth includes 20,000 sessions for "
            "$99/month. Choose it now: http://testserver/pricing/#plan-growth"
        ) in bodies["busy@example.com"].replace(settings.SITE_URL, "http://testserver")
        assert "Choose Growth now</a>" in htmls["busy@example.com"]
        assert "You don't need to do anything" not in bodies["busy@example.com"]
        assert "You don't need to do anything" in bodies["small@example.com"]

    def test_a_notice_writes_each_price_in_its_plans_currency(
        self, django_capture_on_commit_callbacks
    ):
        from accounts.models import Plan

        Plan.objects.filter(code="legacy_build").update(currency="eur")
        legacy_customer("legacy_build", email="eu@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
        [notice] = mail.outbox
        assert "$29/month instead of €19" in notice.body  # Starter in dollars, Build in euros
        assert "$19" not in notice.body

    def test_a_notice_for_more_than_the_largest_plan_holds_asks_to_reply(
        self, django_capture_on_commit_callbacks
    ):
        """Busier than Growth, the largest plan: no plan to "choose now", and something to do."""
        huge = legacy_customer("legacy_agency", email="huge@example.com")
        for period, sessions in zip(HISTORY, (25_000, 31_000, 12_000), strict=True):
            MonthlyUsageFactory(
                customer=huge,
                period=period.start,
                total_sessions=sessions,
                successful_sessions=sessions,
            )
        with django_capture_on_commit_callbacks(execute=True):
            migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
        [notice] = mail.outbox
        body, html = notice.body, notice.alternatives[0][0]
        assert (
            "Your busiest month would not fit in Growth, our largest plan (20,000 sessions a "
            "month): reply to this e-mail before the move" in body
        )
        assert "Choose it now" not in body and "Choose Growth now" not in html
        assert "You don't need to do anything" not in body + html

    def test_remap_now_with_notify_sends_moved(self, django_capture_on_commit_callbacks):
        legacy_customer("legacy_pro", email="pro@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            batch = migration_run(kind=BatchKind.REMAP, notify=True, actor="tester")
        assert [m.subject for m in mail.outbox] == ["You're now on AI-Gate Growth"]
        message = mail.outbox[0]
        assert "from Pro (minutes) to Growth" in message.body
        assert "20,000 sessions a month (about 40,000 minutes)" in message.body
        assert "$99/month" in message.body
        html = message.alternatives[0][0]
        assert "<strong>20,000 sessions</strong>" in html and "$99/month" in html
        assert EmailNotification.objects.get().dedupe_key == f"batch-{batch.pk}"

    def test_a_failed_apply_leaves_nothing_behind(self, monkeypatch):
        legacy_customer("legacy_build")
        before = database_state()

        def explode(*args, **kwargs):
            raise RuntimeError("disk full")

        # Fails after the customers were written, before their audit rows: all rolls back.
        monkeypatch.setattr("migration.batches.apply.plan_changes_record", explode)
        with pytest.raises(RuntimeError):
            migration_run(kind=BatchKind.GRANDFATHER, actor="tester")
        assert database_state() == before
        assert not MigrationBatch.objects.exists()
