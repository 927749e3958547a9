"""Every admin action declares the permission it needs: a staff user who may only view is
offered no action anywhere, and one posted by hand changes nothing."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from api.models import ServiceKey
from config import urls  # noqa: F401  (the admin site as served: config/urls.py completes it)
from tests.accounts.factories import UserFactory
from tests.api.factories import ServiceKeyFactory

pytestmark = pytest.mark.django_db


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


@pytest.fixture
def viewer():
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


def test_every_action_of_every_admin_declares_a_permission_that_changes_something():
    superuser = request_as(UserFactory(username="root", is_staff=True, is_superuser=True))
    walked = 0
    for model, model_admin in registered():
        for name, (function, _, _) in model_admin.get_actions(superuser).items():
            allowed = set(getattr(function, "allowed_permissions", ()) or ())
            assert allowed, f"{model._meta.label}: action {name} declares no permission"
            assert allowed != {"view"}, f"{model._meta.label}: {name} needs only view"
            walked += 1
    assert walked > 50  # ours and dj-stripe's mirror


def test_a_view_only_staff_user_is_offered_no_action_anywhere(viewer):
    request = request_as(viewer)
    offered = {
        f"{model._meta.label}.{name}"
        for model, model_admin in registered()
        for name in model_admin.get_actions(request)
    }
    assert offered == set()


def test_a_view_only_staff_user_cannot_revoke_the_proxys_key(client, viewer):
    key = ServiceKeyFactory(name="proxy")
    client.force_login(viewer)
    changelist = reverse("admin:api_servicekey_changelist")
    assert client.get(changelist).status_code == 200  # may look
    client.post(changelist, {"action": "revoke", "_selected_action": [key.pk]})
    assert ServiceKey.objects.get(pk=key.pk).revoked_at is None
