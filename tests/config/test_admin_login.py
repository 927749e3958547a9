"""Signing in at /admin/login/ (config/admin_site.py `login_returns_to_the_admin`): staff land
in the admin, not on the customers' usage page."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_signing_in_at_the_admin_land_in_the_admin(client):
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    page = client.get("/admin/login/").content.decode()
    action = re.search(r'<form action="([^"]+)" method="post" id="login-form"', page)[1]
    assert unescape(action) == "/admin/login/?next=%2Fadmin%2F"
    response = client.post(unescape(action), {"username": "ops", "password": "pw"})
    assert response.status_code == 302 and response.url == "/admin/"
    # A `next` given keeps its say.
    client.logout()
    response = client.post(
        "/admin/login/?next=/admin/accounts/plan/", {"username": "ops", "password": "pw"}
    )
    assert response.url == "/admin/accounts/plan/"
