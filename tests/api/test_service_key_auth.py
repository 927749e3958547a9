"""Service keys authenticate machine callers (`Authorization: Bearer <key>`): missing, bad and
revoked keys are refused with JSON 401s, and a revocation elsewhere reaches every process."""

import pytest
from rest_framework.test import APIClient

from api.models import ServiceKey
from api.service_keys import service_key_revoke

URL = "/billing/usage"


@pytest.mark.django_db
class TestRefused:
    def test_no_credentials_is_401_json(self, anon):
        response = anon.get(URL, {"user_id": "alice"})
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_bad_key_is_401(self):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer aig_not-a-real-key")
        response = client.get(URL, {"user_id": "alice"})
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"

    def test_revoked_key_is_401(self, api, service_key):
        service_key_revoke(key=ServiceKey.objects.get())
        assert api.get(URL, {"user_id": "alice"}).status_code == 401


@pytest.mark.django_db
def test_a_key_revoked_by_another_process_stops_working_within_the_cache_time(
    api, service_key, settings
):
    from django.utils import timezone

    from api import service_keys

    settings.SERVICE_KEY_CACHE_SECONDS = 5
    assert api.get(URL, {"user_id": "alice"}).status_code == 200
    # Revoked elsewhere (another worker's admin request): this process still trusts it…
    ServiceKey.objects.update(revoked_at=timezone.now())
    assert api.get(URL, {"user_id": "alice"}).status_code == 200
    # …until its cached read is older than SERVICE_KEY_CACHE_SECONDS.
    digest = service_keys.service_key_digest(service_key)
    key, seen_at = service_keys._recently_seen[digest]
    service_keys._recently_seen[digest] = (key, seen_at - 6)
    assert api.get(URL, {"user_id": "alice"}).status_code == 401


@pytest.mark.django_db
def test_with_no_cache_time_every_request_checks_the_key(api, settings):
    from django.utils import timezone

    settings.SERVICE_KEY_CACHE_SECONDS = 0
    assert api.get(URL, {"user_id": "alice"}).status_code == 200
    ServiceKey.objects.update(revoked_at=timezone.now())
    assert api.get(URL, {"user_id": "alice"}).status_code == 401
