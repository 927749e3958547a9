"""The usage admin (`usage/admin.py`): sessions and monthly counters are read-only."""

import pytest


@pytest.mark.django_db
def test_sessions_and_usage_are_read_only(staff_client):
    assert staff_client.get("/admin/usage/session/add/").status_code == 403
    assert staff_client.get("/admin/usage/monthlyusage/add/").status_code == 403
    assert staff_client.get("/admin/usage/session/").status_code == 200


@pytest.mark.django_db
def test_the_sessions_list_names_each_project_by_its_id(staff_client):
    from tests.usage.factories import SessionFactory

    session = SessionFactory(project__project_id="mobile-app")
    page = staff_client.get("/admin/usage/session/").content.decode()
    assert "mobile-app" in page
    assert f"{session.customer_id}/mobile-app" not in page  # not the customer's database id
