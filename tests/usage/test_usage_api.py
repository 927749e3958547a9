from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import BatchKind, Customer, Plan
from accounts.periods import period_of
from migration.batches.apply import migration_run
from tests.accounts.factories import UserFactory
from tests.usage.factories import MonthlyUsageFactory
from usage.models import MonthlyUsage

URL = "/billing/usage"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
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
        alice = customer_on("free", external_id="alice")
        MonthlyUsageFactory(customer=alice, total_sessions=80)
        assert api.get(URL, {"user_id": "alice"}).json()["percentUsed"] == 80
        MonthlyUsage.objects.filter(customer=alice).update(total_sessions=79)
        assert api.get(URL, {"user_id": "alice"}).json()["percentUsed"] == 79

    def test_status_and_grandfathering_are_the_customers(self, api, customer_on):
        from datetime import UTC, datetime

        from tests.accounts.factories import plan

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
        assert body["planName"] == "Build (minutes)"

    def test_a_minute_quota_adds_up_in_the_minutes_it_counts(self, api, customer_on):
        """Failed sessions' minutes are recorded (`minutesUsed`) but not counted."""
        alice = customer_on("legacy_build", external_id="alice")
        MonthlyUsageFactory(
            customer=alice,
            period=period_of(timezone.now()).start,
            total_sessions=12,
            successful_sessions=10,
            failed_sessions=2,
            total_minutes=Decimal("130.5"),
            billable_minutes=Decimal("120.25"),
        )
        body = api.get(URL, {"user_id": "alice"}).json()
        assert body["minutesUsed"] == 130.5
        assert body["minutesCounted"] == 120.25
        assert body["minutesCounted"] + body["minutesRemaining"] == body["minutesIncluded"]

    def test_missing_user_id_with_service_key_is_400(self, api):
        response = api.get(URL)
        assert response.status_code == 400
        assert "user_id" in response.json()["errors"]

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

    @pytest.mark.parametrize("code", ["starter", "legacy_pro"])
    def test_read_is_one_query_once_the_key_is_known(self, api, customer_on, code, settings):
        """The hot read: customer, plan (public name included) and counters in one query."""
        settings.SERVICE_KEY_CACHE_SECONDS = 60
        customer_on(code, external_id="alice")
        assert api.get(URL, {"user_id": "alice"}).status_code == 200  # the key, now cached
        with CaptureQueriesContext(connection) as queries:
            response = api.get(URL, {"user_id": "alice"})
        assert response.status_code == 200
        assert response.json()["planName"] == Plan.objects.get(code=code).public_name
        assert len(queries) == 1, [query["sql"] for query in queries]

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
def test_usage_api_shows_grandfathering_end_and_next_plan(service_key, customer_on):
    customer = customer_on("legacy_pro", external_id="gf-user")
    with time_machine.travel(NOW, tick=False):
        migration_run(kind=BatchKind.GRANDFATHER, actor="t")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
        body = client.get("/billing/usage", {"user_id": customer.external_id}).json()
    assert body["plan"] == "legacy_pro"
    assert body["grandfatheredUntil"] == "2027-02-15T12:00:00Z"
    assert body["nextPlan"] == "growth"
