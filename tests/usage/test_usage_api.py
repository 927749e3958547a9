import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from api.models import ServiceKey
from api.service_keys import service_key_revoke
from tests.factories import UserFactory

URL = "/billing/usage"
SEED_KEYS = [
    "plan",
    "sessionsIncluded",
    "sessionsUsed",
    "sessionsRemaining",
    "estimatedMinutes",
    "minutesUsed",
    "percentUsed",
]


@pytest.mark.django_db
class TestUsageRead:
    def test_unknown_user_gets_free_zero_view_and_nothing_is_created(self, api):
        response = api.get(URL, {"user_id": "test_user_123"})
        assert response.status_code == 200
        body = response.json()
        assert {key: body[key] for key in SEED_KEYS} == {
            "plan": "free",
            "sessionsIncluded": 100,
            "sessionsUsed": 0,
            "sessionsRemaining": 100,
            "estimatedMinutes": 200,
            "minutesUsed": 0,
            "percentUsed": 0,
        }
        assert list(body)[:7] == SEED_KEYS
        assert body["billingUnit"] == "sessions"
        assert body["period"]["start"].endswith("-01")
        assert not Customer.objects.exists()

    def test_usage_after_sessions(self, api, customer_on):
        customer_on("starter", external_id="alice")
        for n in range(5):
            api.post("/api/v1/sessions", {"session_id": f"s{n}", "user_id": "alice"}, format="json")
            api.post(
                f"/api/v1/sessions/s{n}/end",
                {"status": "failed" if n == 0 else "succeeded", "minutes": 2},
                format="json",
            )
        body = api.get(URL, {"user_id": "alice"}).json()
        assert body["plan"] == "starter"
        assert body["sessionsIncluded"] == 5000
        assert body["sessionsUsed"] == 4
        assert body["sessionsRemaining"] == 4996
        assert body["estimatedMinutes"] == 10000
        assert body["minutesUsed"] == 10
        assert body["percentUsed"] == 0
        assert body["successfulSessions"] == 4
        assert body["failedSessions"] == 1

    def test_percent_is_rounded_down(self, api, customer_on):
        from accounts.periods import period_of
        from usage.models import MonthlyUsage

        alice = customer_on("free", external_id="alice")
        MonthlyUsage.objects.create(customer=alice, period=period_of().start, total_sessions=80)
        assert api.get(URL, {"user_id": "alice"}).json()["percentUsed"] == 80
        MonthlyUsage.objects.filter(customer=alice).update(total_sessions=79)
        assert api.get(URL, {"user_id": "alice"}).json()["percentUsed"] == 79

    def test_status_and_grandfathering_are_the_customers(self, api, customer_on):
        from datetime import UTC, datetime

        from tests.factories import plan

        until = datetime(2027, 2, 1, tzinfo=UTC)
        customer_on(
            "legacy_pro",
            external_id="alice",
            status="past_due",
            grandfathered_until=until,
            grandfather_plan=plan("growth"),
        )
        body = api.get(URL, {"user_id": "alice"}).json()
        assert body["plan"] == "legacy_pro"
        assert body["status"] == "past_due"
        assert body["grandfatheredUntil"] == "2027-02-01T00:00:00Z"
        assert body["nextPlan"] == "growth"

    def test_legacy_minute_plan_reports_minutes(self, api, customer_on):
        customer_on("legacy_build", external_id="alice")
        body = api.get(URL, {"user_id": "alice"}).json()
        assert body["plan"] == "legacy_build"
        assert body["billingUnit"] == "minutes"
        assert body["sessionsIncluded"] is None
        assert body["minutesIncluded"] == 3000
        assert body["minutesRemaining"] == 3000

    def test_missing_user_id_with_service_key_is_400(self, api):
        response = api.get(URL)
        assert response.status_code == 400
        assert "user_id" in response.json()["errors"]

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

    def test_signed_in_customer_reads_itself_only(self, customer_on, client):
        user = UserFactory(username="alice-login")
        customer_on("growth", external_id="alice", user=user)
        customer_on("starter", external_id="bob")
        client.force_login(user)
        own = client.get(URL)
        assert own.status_code == 200
        assert own.json()["plan"] == "growth"
        assert client.get(URL, {"user_id": "alice"}).status_code == 200
        other = client.get(URL, {"user_id": "bob"})
        assert other.status_code == 403
        assert other.json()["code"] == "forbidden"
        assert "starter" not in other.content.decode()

    def test_signed_in_user_without_customer_is_refused(self, client):
        client.force_login(UserFactory(username="staff-ish"))
        assert client.get(URL, {"user_id": "alice"}).status_code == 403

    def test_customer_cannot_start_sessions(self, customer_on, client):
        user = UserFactory(username="alice-login")
        customer_on("growth", external_id="alice", user=user)
        client.force_login(user)
        response = client.post(
            "/api/v1/sessions",
            {"session_id": "s1", "user_id": "alice"},
            content_type="application/json",
        )
        assert response.status_code == 403

    def test_read_uses_few_queries(self, api, customer_on, django_assert_max_num_queries):
        customer_on("starter", external_id="alice")
        with django_assert_max_num_queries(4):
            assert api.get(URL, {"user_id": "alice"}).status_code == 200

    def test_trailing_slash_is_not_redirected(self, api):
        response = api.get(URL + "/", {"user_id": "alice"})
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


@pytest.mark.django_db
class TestPlans:
    def test_public_catalogue_with_every_figure(self, anon):
        response = anon.get("/api/v1/plans")
        assert response.status_code == 200
        plans = {plan["code"]: plan for plan in response.json()}
        assert set(plans) == {
            "free",
            "starter",
            "growth",
            "legacy_free",
            "legacy_starter",
            "legacy_build",
            "legacy_pro",
            "legacy_agency",
        }
        assert plans["growth"] == {
            "code": "growth",
            "name": "Growth",
            "billingUnit": "sessions",
            "sessionsIncluded": 20000,
            "estimatedMinutes": 40000,
            "priceCents": 9900,
            "currency": "usd",
            "requestsPerMinute": 10000,
            "concurrentSessions": 50,
            "projects": 10,
            "badge": False,
            "support": "email-24h",
            "sla": "99.9%",
            "isPublic": True,
            "isLegacy": False,
            "migratesTo": None,
        }
        assert plans["legacy_pro"]["migratesTo"] == "growth"
        assert plans["legacy_pro"]["estimatedMinutes"] == 8000


@pytest.mark.django_db
def test_openapi_schema_and_docs(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/billing/usage", "/api/v1/sessions", "/api/v1/sessions/{session_id}/end"]:
        assert path in paths
    docs = anon.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


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
