"""The service key admin (`api/admin.py`): staff revoke a key with an action."""

import pytest
from django.utils import timezone

from api.models import ServiceKey
from tests.api.factories import ServiceKeyFactory


@pytest.mark.django_db
def test_service_key_revoke_action(staff_client):
    key = ServiceKeyFactory(name="old-proxy")
    response = staff_client.post(
        "/admin/api/servicekey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ServiceKey.objects.get().revoked_at <= timezone.now()
