"""The admin's sidebar (`config/admin_site.py`, django-unfold's SIDEBAR navigation): our screens
by what staff do, dj-stripe's mirror in one collapsed group after them, and only what the login
may view."""

import pytest
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from config.admin_site import sidebar_navigation
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def navigation_of(user) -> list[dict]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return sidebar_navigation(request)


def test_our_screens_come_first_and_the_stripe_mirror_is_one_collapsed_group():
    groups = navigation_of(UserFactory(username="boss", is_staff=True, is_superuser=True))

    titles = [group["title"] for group in groups]
    assert titles[:7] == [
        "Overview",
        "Customers",
        "Move to session plans",
        "Catalogue",
        "Stripe",
        "Operations",
        "Stripe mirror (dj-stripe)",
    ]
    mirror = groups[6]
    assert mirror["collapsible"] is True
    assert all("/admin/djstripe/" in item["link"] for item in mirror["items"])
    assert len(mirror["items"]) > 30  # dj-stripe's ~45 mirror models
    ours = [item for group in groups[:6] for item in group["items"]]
    assert [item["title"] for item in groups[1]["items"]][:2] == ["Customers", "Plan history"]
    # The webhook ledger is ours (with replay), not part of the mirror.
    assert any(item["link"] == "/admin/djstripe/webhookeventtrigger/" for item in ours)
    assert all(item["link"] != "/admin/djstripe/webhookeventtrigger/" for item in mirror["items"])


def test_a_login_sees_only_the_screens_it_may_view():
    user = UserFactory(username="keys", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_servicekey"))

    groups = navigation_of(user)

    assert [(group["title"], [item["title"] for item in group["items"]]) for group in groups] == [
        ("Overview", ["Dashboard"]),
        ("Operations", ["Service keys"]),
    ]


def test_the_page_carries_the_sidebar(staff_client):
    page = staff_client.get("/admin/").content.decode()
    assert "Stripe mirror (dj-stripe)" in page and "Webhook ledger" in page


def test_an_admin_page_builds_the_app_list_once(client, monkeypatch):
    """Django's page context and the sidebar share one app list per request."""
    from django.contrib import admin

    boss = UserFactory(username="boss2", is_staff=True, is_superuser=True)
    client.force_login(boss)
    built = []
    site_class = type(admin.site)
    original = site_class.get_app_list

    def counted(self, request, app_label=None):
        built.append(app_label)
        return original(self, request, app_label)

    monkeypatch.setattr(site_class, "get_app_list", counted)
    assert client.get("/admin/accounts/plan/").status_code == 200
    assert built == [None]
    built.clear()
    assert client.get("/admin/").status_code == 200
    assert built == [None]


@pytest.mark.django_db
def test_an_empty_list_says_where_its_rows_come_from(staff_client):
    from tests.support.pages import text

    page = text(staff_client.get("/admin/accounts/migrationbatch/").content.decode())
    assert "No migration batches yet" in page
    assert "A batch is made from the Customers list" in page
    assert "Create a new item" not in page and "Reset filters" not in page
    searched = text(staff_client.get("/admin/accounts/migrationbatch/?q=nothing").content.decode())
    assert "Nothing matches this search or these filters" in searched
    assert "Reset filters" in searched
