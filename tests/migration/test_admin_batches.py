"""The migration batch pages (`migration/admin/batches.py`, `views.py`): a planned batch is
applied later, an applied one rolled back from its page, conflicts shown before forcing."""

import pytest
from django.urls import reverse

from accounts.models import (
    BatchKind,
    BatchStatus,
    ChangeSource,
    Customer,
    MigrationBatch,
    PlanChange,
)
from accounts.services.plan_change import customer_change_plan
from migration.batches.apply import migration_run
from tests.accounts.factories import UserFactory, plan
from tests.migration.support import act, database_state, legacy_customer, migration_fields
from tests.support.workers import worker_runs

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.mark.django_db
class TestBatchPages:
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
        with worker_runs():
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
        with worker_runs():
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
        with worker_runs():
            admin_client.post(url, {"confirm": "1"})
        assert migration_fields(a)[0] == "growth"
        with worker_runs():
            admin_client.post(url, {"confirm": "1", "force": "on"})
        assert migration_fields(a)[0] == "legacy_build"

    def test_staff_without_change_permission_cannot_apply_or_roll_back(self, client):
        from django.contrib.auth.models import Permission

        user = UserFactory(username="viewer", is_staff=True)
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
def test_the_batch_pages_write_numbers_and_dates_as_the_admin_does(admin_client):
    from tests.migration.support import HISTORY

    a = legacy_customer("legacy_agency", minutes=("5000", "5000", "5000"), history=HISTORY)
    dry = act(admin_client, "migration_grandfather", [a], preview="1", months="3")
    assert "2,500 · 2,500 · 2,500" in dry.content.decode()  # estimated sessions
    batch = migration_run(kind=BatchKind.GRANDFATHER, actor="t")
    url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
    page = admin_client.get(url).content.decode()
    assert "2,500 · 2,500 · 2,500" in page and "Grandfathered until 15 Feb 2027." in page
    rollback_url = reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
    assert "15 Feb 2027 → -" in admin_client.get(rollback_url).content.decode()
    with worker_runs():
        admin_client.post(rollback_url, {"confirm": "1"})
    assert "15 Nov 2026, 12:00 UTC by admin:" in admin_client.get(url).content.decode()
