"""The plan admin (`accounts/admin/plans.py`): every figure of a plan is editable by staff."""

import pytest

from tests.accounts.factories import plan


@pytest.mark.django_db
def test_plan_figures_are_editable(staff_client):
    starter = plan("starter")
    response = staff_client.get(f"/admin/accounts/plan/{starter.pk}/change/")
    assert response.status_code == 200
    assert 'name="included_sessions"' in response.content.decode()


@pytest.mark.django_db
def test_the_sla_field_is_labelled_sla(staff_client):
    html = staff_client.get(f"/admin/accounts/plan/{plan('growth').pk}/change/").content.decode()
    assert 'for="id_sla">SLA</label>' in html
    assert "Sla" not in html
