from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    EmailNotification,
    MigrationBatch,
    PlanChange,
)
from accounts.services.plan_change import customer_change_plan
from migration.batches.apply import migration_run
from tests.billing.migration_support import database_state, legacy_customer, migration_fields
from tests.factories import CustomerFactory, plan

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CHANGELIST = "/admin/accounts/customer/"


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def act(client, action, customers, query="", **data):
    payload = {"action": action, "_selected_action": [c.pk for c in customers], **data}
    return client.post(CHANGELIST + query, payload)


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

    def test_save_as_planned_then_apply_and_roll_back_from_the_batch_page(self, admin_client):
        a = legacy_customer("legacy_build")
        response = act(
            admin_client, "migration_grandfather", [a], save_planned="1", months="3", reason="plan"
        )
        batch = MigrationBatch.objects.get()
        assert response.status_code == 302 and response.url == reverse(
            "admin:accounts_migrationbatch_change", args=[batch.pk]
        )
        assert batch.status == BatchStatus.PLANNED and migration_fields(a)[1] is None
        page = admin_client.get(response.url).content.decode()
        assert "Dry-run report" in page and a.external_id in page and "Apply this batch now" in page
        admin_client.post(reverse("admin:accounts_migrationbatch_apply", args=[batch.pk]))
        batch.refresh_from_db()
        assert batch.status == BatchStatus.APPLIED and migration_fields(a)[2] == "starter"
        page = admin_client.get(
            reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        ).content.decode()
        assert "Roll back…" in page and "Apply this batch now" not in page

        rollback_url = reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
        before = database_state()
        confirm = admin_client.get(rollback_url)
        assert confirm.status_code == 200 and a.external_id in confirm.content.decode()
        assert database_state() == before
        admin_client.post(rollback_url, {"confirm": "1", "reason": "oops"})
        batch.refresh_from_db()
        assert batch.status == BatchStatus.ROLLED_BACK
        assert migration_fields(a) == ("legacy_build", None, None, False)
        assert (
            PlanChange.objects.filter(source=ChangeSource.ROLLBACK).get().reason
            == f"Roll back batch {batch.pk}: oops"
        )

    def test_rollback_page_shows_conflicts_and_force_restores_them(self, admin_client):
        a = legacy_customer("legacy_build")
        batch = migration_run(kind=BatchKind.REMAP, actor="t")
        customer_change_plan(
            customer=Customer.objects.get(pk=a.pk),
            plan=plan("growth"),
            source=ChangeSource.ADMIN,
            actor="x",
            reason="up",
        )
        url = reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
        assert "left alone" in admin_client.get(url).content.decode()
        admin_client.post(url, {"confirm": "1"})
        assert migration_fields(a)[0] == "growth"
        admin_client.post(url, {"confirm": "1", "force": "on"})
        assert migration_fields(a)[0] == "legacy_build"

    def test_staff_without_change_permission_cannot_apply_or_roll_back(
        self, client, django_user_model
    ):
        from django.contrib.auth.models import Permission

        user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_migrationbatch", "view_customer"])
        )
        client.force_login(user)
        legacy_customer("legacy_build")
        batch = migration_run(kind=BatchKind.GRANDFATHER, actor="t")
        assert (
            client.post(
                reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk]), {"confirm": "1"}
            ).status_code
            == 403
        )
        assert MigrationBatch.objects.get().status == BatchStatus.APPLIED


@pytest.mark.django_db
class TestFilters:
    def test_grandfathering_and_exempt_filters(self, admin_client):
        soon = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW + timedelta(days=10),
            grandfather_plan=plan("starter"),
        )
        later = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW + timedelta(days=60),
            grandfather_plan=plan("starter"),
        )
        ended = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW - timedelta(days=1),
            grandfather_plan=plan("starter"),
        )
        exempt = legacy_customer("legacy_pro", migration_exempt=True)
        plain = CustomerFactory(plan=plan("starter"))

        def listed(query):
            page = admin_client.get(CHANGELIST + query).content.decode()
            return {
                c.external_id
                for c in (soon, later, ended, exempt, plain)
                if f">{c.external_id}<" in page
            }

        assert listed("?grandfathering=yes") == {
            soon.external_id,
            later.external_id,
            ended.external_id,
        }
        assert listed("?grandfathering=ending") == {soon.external_id}
        assert listed("?grandfathering=ended") == {ended.external_id}
        assert listed("?grandfathering=no") == {exempt.external_id, plain.external_id}
        assert listed("?migration_exempt__exact=1") == {exempt.external_id}
        assert listed("?legacy=yes") == {
            soon.external_id,
            later.external_id,
            ended.external_id,
            exempt.external_id,
        }


def _bulk_legacy_customers(count: int) -> list[int]:
    plans = [
        plan(code) for code in ("legacy_build", "legacy_pro", "legacy_starter", "legacy_agency")
    ]
    Customer.objects.bulk_create(
        [
            Customer(
                external_id=f"bulk-{n:05d}",
                email=f"bulk-{n}@example.com",
                plan=plans[n % len(plans)],
            )
            for n in range(count)
        ],
        batch_size=2000,
    )
    return list(Customer.objects.values_list("pk", flat=True))


@pytest.mark.django_db
class TestTenThousandCustomers:
    COUNT = 10_000

    def test_changelist_and_action_pages_render_in_bounded_queries(
        self, admin_client, django_assert_max_num_queries
    ):
        _bulk_legacy_customers(self.COUNT)
        with django_assert_max_num_queries(15):
            response = admin_client.get(CHANGELIST + "?legacy=yes")
        assert response.status_code == 200
        first_page = list(
            Customer.objects.order_by("external_id").values_list("pk", flat=True)[:100]
        )
        with django_assert_max_num_queries(20):
            response = admin_client.post(
                CHANGELIST + "?legacy=yes",
                {
                    "action": "migration_grandfather",
                    "_selected_action": first_page,
                    "select_across": "1",
                },
            )
        page = response.content.decode()
        assert response.status_code == 200
        assert "Grandfather: 10,000 customer(s)" in page
        assert "bulk-00000" in page and "bulk-09999" in page  # every customer is listed

        # Applying writes in bulk statements (their number depends on the database's batch
        # size, not on a query per customer); the pages around it are what must stay bounded.
        response = admin_client.post(
            CHANGELIST + "?legacy=yes",
            {
                "action": "migration_grandfather",
                "_selected_action": first_page,
                "select_across": "1",
                "apply": "1",
                "months": "3",
                "reason": "all legacy",
            },
        )
        assert response.status_code == 302
        batch = MigrationBatch.objects.get()
        assert batch.changed_count == self.COUNT

        change_url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        with django_assert_max_num_queries(15):
            response = admin_client.get(change_url)
        assert response.status_code == 200 and "page 1 of 10" in response.content.decode()
        with django_assert_max_num_queries(15):
            response = admin_client.get(
                reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
            )
        assert response.status_code == 200 and "bulk-09999" in response.content.decode()
        with django_assert_max_num_queries(15):
            response = admin_client.get(reverse("admin:accounts_migrationbatch_changelist"))
        assert response.status_code == 200
