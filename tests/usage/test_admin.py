"""The usage admin (`usage/admin.py`): sessions and monthly counters are read-only."""

import pytest


@pytest.mark.django_db
def test_sessions_and_usage_are_read_only(staff_client):
    assert staff_client.get("/admin/usage/session/add/").status_code == 403
    assert staff_client.get("/admin/usage/monthlyusage/add/").status_code == 403
    assert staff_client.get("/admin/usage/session/").status_code == 200
