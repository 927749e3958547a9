"""The customer admin's migration actions (`migration/admin/actions.py`): a confirmation page
showing old → new for every customer, then the same services as the commands."""

from datetime import UTC, datetime

import pytest
from django.core import mail

from accounts.models import (
    BatchKind,
    BatchStatus,
    EmailNotification,
    MigrationBatch,
    PlanChange,
)
from tests.accounts.factories import plan
from tests.migration.support import act, database_state, legacy_customer, migration_fields

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.mark.django_db
class TestCustomerActions:
    @pytest.mark.parametrize(
        ("action", "heading", "after"),
        [
            ("migration_remap", "Remap plan: 2 customer(s)", "moves now to Starter"),
            (
                "migration_grandfather",
                "Grandfather: 2 customer(s)",
                "until 2027-02-15, then Starter",
            ),
            ("migration_exempt", "Exempt from migration: 2 customer(s)", "exempt: stays on"),
        ],
    )
    def test_confirmation_page_lists_every_customer_and_changes_nothing(
        self, admin_client, action, heading, after
    ):
        a = legacy_customer("legacy_build")
        b = legacy_customer("legacy_starter")
        before = database_state()
        response = act(admin_client, action, [a, b])
        assert response.status_code == 200
        page = response.content.decode()
        assert heading in page
        for customer in (a, b):
            assert customer.external_id in page
        assert "Build (minutes, legacy)" in page and "3,000 min" in page and "$19" in page
        if action == "migration_exempt":  # stays on its plan
            assert "5,000 sessions" not in page
        else:
            assert "Starter" in page and "5,000 sessions" in page and "$29" in page
        assert after in page
        assert database_state() == before
        assert "Scheduled move follows" not in page

    def test_confirmation_page_counts_and_names_a_scheduled_move_that_follows(self, admin_client):
        pending = legacy_customer(
            "legacy_build",
            pending_plan=plan("free"),
            pending_plan_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        response = act(admin_client, "migration_remap", [pending, legacy_customer("legacy_pro")])
        page = response.content.decode()
        assert "Scheduled move follows<strong>1</strong>" in page
        assert (
            "moves now to Starter; a move to Free on 2026-12-01, scheduled before this batch, "
            "still follows"
        ) in page

    def test_remap_applies_through_the_service_with_the_admin_as_actor(
        self, admin_client, admin_user
    ):
        a = legacy_customer("legacy_build")
        b = legacy_customer("legacy_pro")
        response = act(admin_client, "migration_remap", [a, b], apply="1", reason="Planned move")
        assert response.status_code == 302
        batch = MigrationBatch.objects.get()
        assert batch.kind == BatchKind.REMAP and batch.status == BatchStatus.APPLIED
        assert batch.actor == f"admin:{admin_user.username}" and batch.created_by == admin_user
        assert batch.selection == {"customer_ids": sorted([a.pk, b.pk])}
        assert migration_fields(a)[0] == "starter" and migration_fields(b)[0] == "growth"
        assert set(PlanChange.objects.filter(batch=batch).values_list("reason", flat=True)) == {
            "Planned move"
        }

    def test_a_reason_is_required(self, admin_client):
        a = legacy_customer("legacy_build")
        before = database_state()
        response = act(admin_client, "migration_remap", [a], apply="1", reason="")
        assert response.status_code == 200
        assert "This field is required" in response.content.decode()
        assert database_state() == before

    def test_grandfather_with_months_and_notice(
        self, admin_client, django_capture_on_commit_callbacks
    ):
        a = legacy_customer("legacy_pro")
        preview = act(
            admin_client, "migration_grandfather", [a], preview="1", months="6", reason="x"
        )
        assert "until 2027-05-15, then Growth" in preview.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            act(
                admin_client,
                "migration_grandfather",
                [a],
                apply="1",
                months="6",
                reason="x",
                notify="on",
            )
        assert migration_fields(a) == (
            "legacy_pro",
            datetime(2027, 5, 15, 12, tzinfo=UTC),
            "growth",
            False,
        )
        assert [m.subject for m in mail.outbox] == [
            "Your AI-Gate plan moves to Growth on May 15, 2027"
        ]

    def test_extend_end_and_remove_exemption(self, admin_client):
        until = datetime(2026, 12, 1, tzinfo=UTC)
        a = legacy_customer(
            "legacy_build", grandfathered_until=until, grandfather_plan=plan("starter")
        )
        b = legacy_customer(
            "legacy_pro", grandfathered_until=until, grandfather_plan=plan("growth")
        )
        c = legacy_customer("legacy_pro", migration_exempt=True)
        act(admin_client, "migration_extend", [a], apply="1", months="2", reason="asked")
        assert migration_fields(a)[1] == datetime(2027, 2, 1, tzinfo=UTC)
        act(admin_client, "migration_end_grandfathering", [b], apply="1", reason="asked")
        assert migration_fields(b) == ("growth", None, None, False)
        act(admin_client, "migration_remove_exemption", [c], apply="1", reason="asked")
        assert migration_fields(c)[3] is False
        assert list(MigrationBatch.objects.order_by("pk").values_list("kind", flat=True)) == [
            BatchKind.EXTEND,
            BatchKind.END_GRANDFATHERING,
            BatchKind.REMOVE_EXEMPTION,
        ]

    def test_send_migration_notice_once(self, admin_client, django_capture_on_commit_callbacks):
        waiting = legacy_customer(
            "legacy_build",
            grandfathered_until=datetime(2027, 1, 10, tzinfo=UTC),
            grandfather_plan=plan("starter"),
        )
        not_grandfathered = legacy_customer("legacy_build")
        page = act(
            admin_client, "send_migration_notice", [waiting, not_grandfathered]
        ).content.decode()
        assert "not grandfathered: no date to announce" in page
        assert "moves to Starter on 2027-01-10" in page
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                act(admin_client, "send_migration_notice", [waiting, not_grandfathered], apply="1")
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.subject == "Your AI-Gate plan moves to Starter on January 10, 2027"
        assert "5,000 sessions" in message.body and "$29/month" in message.body
        assert EmailNotification.objects.get().customer == waiting
        assert not MigrationBatch.objects.exists()
