"""Hostile input to the admin's own pages never gives a 500: a path id that is not an id, an
action's selection that is not ids, a reason holding a NUL (which PostgreSQL cannot store).
Staff without the permission get 403 before any of it is read."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import BackgroundJob, BatchKind, Customer, MigrationBatch
from migration.batches.apply import migration_run
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.migration.support import legacy_customer

pytestmark = pytest.mark.django_db

NOT_IDS = ["abc", "1.5", "%00", "%C3%A9", "-"]
PAGES = [
    "/admin/accounts/customer/{}/change-plan/",
    "/admin/accounts/migrationbatch/{}/change/",
    "/admin/accounts/backgroundjob/{}/change/",
]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("not_an_id", NOT_IDS)
def test_a_path_id_that_is_not_an_id_is_not_found(staff_client, page, not_an_id):
    # Not found: a 404, or the admin's own redirect saying so.
    assert staff_client.get(page.format(not_an_id)).status_code in (302, 404)
    # A read-only page refuses any POST (403); the others answer as to a GET.
    assert staff_client.post(page.format(not_an_id)).status_code in (302, 403, 404)


@pytest.mark.parametrize("page", PAGES)
def test_staff_without_permissions_are_refused_before_the_id_is_read(client, page):
    client.force_login(UserFactory(username="nobody", is_staff=True))
    assert client.get(page.format("abc")).status_code == 403
    assert client.get(page.format("1")).status_code == 403


def test_a_missing_customer_has_no_change_plan_page(staff_client):
    assert staff_client.get("/admin/accounts/customer/999999/change-plan/").status_code == 404


@pytest.mark.parametrize(
    ("changelist", "action"),
    [
        ("/admin/accounts/customer/", "migration_remap"),
        ("/admin/accounts/customer/", "delete_selected"),
        ("/admin/accounts/emailnotification/", "send_again"),
        ("/admin/billing/stripepricemove/", "send_again"),
    ],
)
def test_an_action_on_a_selection_that_is_not_ids_does_nothing_and_says_so(
    staff_client, changelist, action
):
    alice = CustomerFactory(external_id="alice", plan=plan("starter"))
    response = staff_client.post(
        changelist,
        {"action": action, "_selected_action": [str(alice.pk), "abc"], "preview": "1"},
    )
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("The selection holds something that is not a row of this list")
    assert Customer.objects.filter(pk=alice.pk).exists()
    assert not MigrationBatch.objects.exists()


def test_a_roll_back_reason_holding_a_nul_is_refused_and_nothing_queued(staff_client):
    legacy_customer("legacy_build")
    batch = migration_run(kind=BatchKind.GRANDFATHER, actor="t")
    url = reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
    response = staff_client.post(url, {"confirm": "1", "reason": "oops\x00"})
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("The reason holds a NUL character, which cannot be stored")
    assert not BackgroundJob.objects.filter(batch=batch).exists()


def test_view_only_staff_get_403_on_a_batch_id_that_is_not_one(client):
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename="view_migrationbatch"))
    client.force_login(user)
    assert client.get("/admin/accounts/migrationbatch/abc/change/").status_code == 302
