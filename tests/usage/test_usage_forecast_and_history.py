"""Where the month is heading (`forecast` in `GET /billing/usage`) and the months before
(`GET /billing/usage/history`), `usage/selectors.py`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.models import ChangeSource
from accounts.periods import period_of
from accounts.services.plan_change import customer_change_plan
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.usage.factories import MonthlyUsageFactory
from usage.selectors import Forecast, UsageSummary, usage_forecast

NOV = period_of(date(2026, 11, 1))


def summary(code: str, *, sessions: int = 0, minutes: str = "0") -> UsageSummary:
    return UsageSummary(
        customer=None,
        plan=plan(code),
        period=NOV,
        total_sessions=sessions,
        successful_sessions=sessions,
        failed_sessions=0,
        total_minutes=Decimal(minutes),
        billable_minutes=Decimal(minutes),
    )


@pytest.mark.django_db
class TestForecast:
    def test_no_use_projects_nothing(self):
        at = datetime(2026, 11, 20, tzinfo=UTC)
        assert usage_forecast(summary("starter"), now=at) == Forecast(0, None)

    def test_the_first_day_counts_as_a_whole_day(self):
        """At 00:30 on the 1st, 50 sessions are a pace of 50 a day, not 2,400."""
        at = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
        assert usage_forecast(summary("starter", sessions=50), now=at) == Forecast(1500, None)

    def test_a_pace_that_stays_under_the_quota(self):
        at = datetime(2026, 11, 16, tzinfo=UTC)  # 15 days gone
        forecast = usage_forecast(summary("starter", sessions=2325), now=at)
        assert forecast == Forecast(4650, None)  # "at this pace about 4,650 of 5,000"

    def test_a_pace_that_runs_out_names_the_day(self):
        at = datetime(2026, 11, 11, tzinfo=UTC)  # 10 days: 200 a day, 5,000 on day 25
        forecast = usage_forecast(summary("starter", sessions=2000), now=at)
        assert forecast == Forecast(6000, date(2026, 11, 25))

    def test_a_minute_plan_is_forecast_in_minutes(self):
        at = datetime(2026, 11, 11, tzinfo=UTC)  # 400 minutes a day, 8,000 on day 20
        forecast = usage_forecast(summary("legacy_pro", minutes="4000"), now=at)
        assert forecast == Forecast(12000, date(2026, 11, 20))

    def test_a_quota_already_used_up_ran_out_today(self):
        at = datetime(2026, 11, 9, 15, tzinfo=UTC)
        forecast = usage_forecast(summary("free", sessions=100), now=at)
        assert forecast.exhausts_on == date(2026, 11, 9)


@pytest.mark.django_db
@time_machine.travel(datetime(2026, 11, 11, tzinfo=UTC), tick=False)
def test_the_usage_read_carries_the_forecast(api):
    customer = CustomerFactory(external_id="alice", plan=plan("starter"))
    MonthlyUsageFactory(customer=customer, total_sessions=2000, successful_sessions=2000)
    body = api.get("/billing/usage", {"user_id": "alice"}).json()
    assert body["forecast"] == {"projected": 6000, "exhaustsOn": "2026-11-25"}
    assert api.get("/billing/usage", {"user_id": "nobody-yet"}).json()["forecast"] == {
        "projected": 0,
        "exhaustsOn": None,
    }


@pytest.mark.django_db
class TestHistory:
    def test_twelve_months_newest_first_with_each_months_plan(self, api):
        with time_machine.travel(datetime(2026, 6, 20, tzinfo=UTC), tick=False):
            alice = CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
            MonthlyUsageFactory(
                customer=alice,
                period=date(2026, 6, 1),
                total_sessions=900,
                failed_sessions=100,
                billable_minutes=Decimal("1850.5"),
            )
        with time_machine.travel(datetime(2026, 9, 10, tzinfo=UTC), tick=False):
            customer_change_plan(
                customer=alice, plan=plan("growth"), source=ChangeSource.ADMIN, actor="t",
                reason="moved",
            )  # fmt: skip
        with time_machine.travel(datetime(2026, 11, 20, tzinfo=UTC), tick=False):
            MonthlyUsageFactory(customer=alice, total_sessions=3000, successful_sessions=2990)
            months = api.get("/billing/usage/history", {"user_id": "alice"}).json()["months"]
        assert [m["month"] for m in months] == [
            "2026-11", "2026-10", "2026-09", "2026-08", "2026-07", "2026-06",
            "2026-05", "2026-04", "2026-03", "2026-02", "2026-01", "2025-12",
        ]  # fmt: skip
        by_month = {m["month"]: m for m in months}
        assert by_month["2026-11"] == {
            "month": "2026-11",
            "sessionsUsed": 3000,
            "minutesUsed": 0,
            "included": 20000,
            "unit": "sessions",
        }
        assert by_month["2026-09"]["included"] == 20000  # moved in September: growth at its end
        assert by_month["2026-08"] == {
            "month": "2026-08",
            "sessionsUsed": 0,
            "minutesUsed": 0,
            "included": 8000,
            "unit": "minutes",
        }
        assert by_month["2026-06"]["sessionsUsed"] == 800
        assert by_month["2026-06"]["minutesUsed"] == 1850.5

    def test_an_unknown_user_has_twelve_empty_months_of_the_free_plan(self, api):
        months = api.get("/billing/usage/history", {"user_id": "nobody"}).json()["months"]
        assert len(months) == 12
        assert all((m["sessionsUsed"], m["included"]) == (0, 100) for m in months)

    def test_same_rules_as_the_usage_read(self, api, anon, client):
        assert anon.get("/billing/usage/history", {"user_id": "x"}).status_code == 401
        assert api.get("/billing/usage/history").status_code == 400
        user = UserFactory(username="carol-login")
        CustomerFactory(external_id="carol", user=user, plan=plan("starter"))
        CustomerFactory(external_id="dave", plan=plan("starter"))
        client.force_login(user)
        assert client.get("/billing/usage/history").json()["months"][0]["included"] == 5000
        assert client.get("/billing/usage/history", {"user_id": "dave"}).status_code == 403
