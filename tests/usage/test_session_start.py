from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import Customer, PlanChange, Project
from tests.accounts.factories import ProjectFactory
from usage.models import MonthlyUsage, Session

URL = "/api/v1/sessions"


def start(api, session_id, user_id="alice", **extra):
    return api.post(URL, {"session_id": session_id, "user_id": user_id, **extra}, format="json")


def end(api, session_id, status="succeeded", minutes=2):
    return api.post(
        f"{URL}/{session_id}/end", {"status": status, "minutes": minutes}, format="json"
    )


def usage_row(user_id="alice") -> MonthlyUsage:
    return MonthlyUsage.objects.get(customer__external_id=user_id)


@pytest.mark.django_db
class TestSessionStart:
    def test_start_counts_one_session_and_provisions_unknown_user_on_free(self, api):
        response = start(api, "s1", email="alice@example.com")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["sessionId"] == "s1"
        assert body["userId"] == "alice"
        assert body["projectId"] == "default"
        assert body["status"] == "active"
        customer = Customer.objects.get(external_id="alice")
        assert customer.plan.code == "free"
        assert customer.email == "alice@example.com"
        assert usage_row().total_sessions == 1
        provisioning = PlanChange.objects.get(customer=customer)
        assert provisioning.from_plan is None and provisioning.to_plan.code == "free"

    def test_retry_with_same_session_id_returns_200_and_counts_nothing(self, api):
        assert start(api, "s1").status_code == 201
        again = start(api, "s1")
        assert again.status_code == 200
        assert again.json()["sessionId"] == "s1"
        assert usage_row().total_sessions == 1
        assert Session.objects.count() == 1

    def test_retry_after_the_session_ended_still_counts_nothing(self, api):
        start(api, "s1")
        end(api, "s1")
        assert start(api, "s1").status_code == 200
        assert usage_row().total_sessions == 1

    def test_session_id_of_another_customer_is_a_conflict(self, api):
        start(api, "s1", user_id="alice")
        response = start(api, "s1", user_id="bob")
        assert response.status_code == 409
        assert response.json()["code"] == "conflict"
        assert not MonthlyUsage.objects.filter(customer__external_id="bob").exists()

    def test_quota_exhausted_gives_402_with_machine_code(self, api, customer_on, no_rate_limits):
        customer_on("free", external_id="alice")
        for n in range(100):
            assert start(api, f"s{n}").status_code == 201
            end(api, f"s{n}")
        response = start(api, "s100")
        assert response.status_code == 402
        body = response.json()
        assert body["code"] == "quota_exceeded"
        assert "100" in body["detail"]
        assert usage_row().total_sessions == 100
        assert not Session.objects.filter(session_id="s100").exists()

    def test_failed_session_gives_its_unit_back(self, api, customer_on, no_rate_limits):
        customer_on("free", external_id="alice")
        for n in range(100):
            start(api, f"s{n}")
            end(api, f"s{n}")
        assert start(api, "one-more").status_code == 402
        MonthlyUsage.objects.all().delete()
        Session.objects.all().delete()
        for n in range(100):
            start(api, f"t{n}")
            end(api, f"t{n}", status="failed" if n == 0 else "succeeded")
        assert start(api, "one-more").status_code == 201
        row = usage_row()
        assert (row.total_sessions, row.failed_sessions, row.sessions_used) == (101, 1, 100)

    def test_concurrency_limit_gives_429_with_retry_after(self, api, customer_on):
        customer_on("free", external_id="alice")  # 1 concurrent session
        assert start(api, "s1").status_code == 201
        response = start(api, "s2")
        assert response.status_code == 429
        assert response.json()["code"] == "concurrency_limit"
        assert int(response["Retry-After"]) > 0
        assert usage_row().total_sessions == 1
        end(api, "s1")
        assert start(api, "s2").status_code == 201

    def test_session_that_never_ends_stops_holding_its_slot(self, api, customer_on, settings):
        settings.SESSION_STALE_AFTER = 4 * 3600
        customer_on("free", external_id="alice")
        with time_machine.travel(timezone.now() - timedelta(hours=4, minutes=1), tick=False):
            assert start(api, "old").status_code == 201
        assert start(api, "new").status_code == 201

    def test_session_just_under_stale_age_still_holds_its_slot(self, api, customer_on, settings):
        settings.SESSION_STALE_AFTER = 4 * 3600
        customer_on("free", external_id="alice")
        with time_machine.travel(timezone.now() - timedelta(hours=3, minutes=59), tick=False):
            assert start(api, "old").status_code == 201
        assert start(api, "new").status_code == 429

    def test_project_beyond_plan_limit_is_refused_with_403(self, api, customer_on):
        alice = customer_on("starter", external_id="alice")  # 3 projects
        for n in range(3):
            ProjectFactory(customer=alice, project_id=f"p{n}")
        response = start(api, "s1", project_id="p3")
        assert response.status_code == 403
        assert response.json()["code"] == "project_limit"
        assert not MonthlyUsage.objects.filter(customer=alice).exists()
        assert start(api, "s2", project_id="p1").status_code == 201

    def test_default_project_is_made_on_demand(self, api):
        start(api, "s1")
        assert list(Project.objects.values_list("project_id", flat=True)) == ["default"]

    def test_legacy_minute_plan_is_checked_against_minutes(self, api, customer_on):
        customer_on("legacy_free", external_id="alice")  # 200 minutes
        start(api, "s1")
        end(api, "s1", minutes=199)
        assert start(api, "s2").status_code == 201
        end(api, "s2", minutes=1)
        response = start(api, "s3")
        assert response.status_code == 402
        assert response.json()["unit"] == "minutes"

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"user_id": "alice"}, "session_id"),
            ({"session_id": "s1"}, "user_id"),
            ({"session_id": "", "user_id": "alice"}, "session_id"),
            ({"session_id": "s1", "user_id": "alice", "project_id": "bad id/x"}, "project_id"),
            ({"session_id": "s1", "user_id": "alice", "email": "not-an-email"}, "email"),
            ({"session_id": "x" * 256, "user_id": "alice"}, "session_id"),
        ],
    )
    def test_bad_body_gives_400_with_field_errors_and_changes_nothing(self, api, body, field):
        response = api.post(URL, body, format="json")
        assert response.status_code == 400
        payload = response.json()
        assert payload["code"] == "invalid"
        assert field in payload["errors"]
        assert Customer.objects.count() == 0
        assert Session.objects.count() == 0

    def test_malformed_json_gives_400_json(self, api):
        response = api.generic("POST", URL, "{not json", content_type="application/json")
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"

    def test_month_boundary_counts_in_the_new_month(self, api):
        with time_machine.travel("2026-11-30T23:59:59Z", tick=False):
            start(api, "nov")
            end(api, "nov")
        with time_machine.travel("2026-12-01T00:00:00Z", tick=False):
            start(api, "dec")
        periods = sorted(str(p) for p in MonthlyUsage.objects.values_list("period", flat=True))
        assert periods == ["2026-11-01", "2026-12-01"]

    def test_failure_ending_next_month_gives_back_to_the_month_it_started(self, api):
        with time_machine.travel("2026-11-30T23:59:00Z", tick=False):
            start(api, "s1")
        with time_machine.travel("2026-12-01T00:05:00Z", tick=False):
            end(api, "s1", status="failed")
        row = MonthlyUsage.objects.get(period="2026-11-01")
        assert (row.total_sessions, row.failed_sessions) == (1, 1)
        assert not MonthlyUsage.objects.filter(period="2026-12-01").exists()

    def test_start_uses_a_bounded_number_of_queries(
        self, api, customer_on, django_assert_max_num_queries
    ):
        customer_on("growth", external_id="alice")
        start(api, "warm")
        # SQLite: key, savepoint, find-and-lock customer, admission, reserve, insert, release.
        # PostgreSQL: savepoint, lock, admit-reserve-record, release, sent in one round trip
        # (`_pipelined_start`); the key is cached.
        with django_assert_max_num_queries(7 if connection.vendor == "sqlite" else 4):
            assert start(api, "s1").status_code == 201
        # A replay: key, (savepoint), find-and-lock, admission, (release), read the recorded
        # session; on PostgreSQL after the one round trip, which recorded nothing.
        with django_assert_max_num_queries(6 if connection.vendor == "sqlite" else 9):
            assert start(api, "s1").status_code == 200


@pytest.mark.django_db
class TestSessionEnd:
    def test_end_records_minutes_and_success(self, api):
        start(api, "s1")
        response = end(api, "s1", minutes=2.5)
        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"
        assert response.json()["minutes"] == 2.5
        row = usage_row()
        assert row.successful_sessions == 1
        assert float(row.total_minutes) == 2.5

    def test_repeat_end_changes_nothing(self, api):
        start(api, "s1")
        end(api, "s1", minutes=3)
        again = end(api, "s1", status="failed", minutes=9)
        assert again.status_code == 200
        assert again.json()["status"] == "succeeded"
        row = usage_row()
        assert (row.successful_sessions, row.failed_sessions, float(row.total_minutes)) == (1, 0, 3)

    def test_unknown_session_is_404_json(self, api):
        response = end(api, "nope")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    @pytest.mark.parametrize(
        "body",
        [
            {"status": "done", "minutes": 1},
            {"status": "failed", "minutes": -1},
            {"status": "failed"},
        ],
    )
    def test_bad_end_body_is_400(self, api, body):
        start(api, "s1")
        response = api.post(f"{URL}/s1/end", body, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert Session.objects.get().status == "active"
