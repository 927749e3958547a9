from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import EmailNotification
from tests.accounts.factories import CustomerFactory, plan
from usage.alerts import usage_alert_levels
from usage.services import session_end, session_start

NOV = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
DEC = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_limits_in_loops(settings):
    settings.SESSION_STALE_AFTER = 0  # every open session is stale at once: no 429
    settings.RATE_LIMITS_ENABLED = False


def start_n(customer, count, *, prefix="s", offset=0):
    for n in range(offset, offset + count):
        session_start(session_id=f"{prefix}{n}", external_id=customer.external_id)


def usage_emails(customer):
    return list(
        EmailNotification.objects.filter(customer=customer)
        .order_by("pk")
        .values_list("kind", "dedupe_key")
    )


def test_levels_are_the_first_use_showing_80_and_100_percent():
    assert usage_alert_levels(100) == {80: "usage_80", 100: "usage_100"}
    assert usage_alert_levels(5000) == {4000: "usage_80", 5000: "usage_100"}
    assert usage_alert_levels(7) == {6: "usage_80", 7: "usage_100"}  # 5.6 → 6 (85%)
    assert usage_alert_levels(0) == {}


@pytest.mark.django_db
class TestSessionPlans:
    def test_80_and_100_percent_once_per_month(self, django_capture_on_commit_callbacks):
        customer = CustomerFactory(plan=plan("free"), email="a@example.com")
        with time_machine.travel(NOV, tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                start_n(customer, 79)
            assert usage_emails(customer) == []
            with django_capture_on_commit_callbacks(execute=True):
                start_n(customer, 1, offset=79)
            assert usage_emails(customer) == [("usage_80", "2026-11")]
            assert (
                mail.outbox[-1].subject == "You've used 80% of your AI-Gate sessions for November"
            )
            assert "80 of the 100 sessions" in mail.outbox[-1].body
            # A failed session gives a unit back; reaching 80 again sends nothing more.
            session_end(session_id="s79", status="failed", minutes=Decimal(0))
            with django_capture_on_commit_callbacks(execute=True):
                start_n(customer, 21, offset=80)
            assert usage_emails(customer) == [("usage_80", "2026-11"), ("usage_100", "2026-11")]
            assert "all 100 sessions" in mail.outbox[-1].body
            assert len(mail.outbox) == 2
        with time_machine.travel(DEC, tick=False):
            start_n(customer, 80, prefix="dec")
        assert usage_emails(customer)[-1] == ("usage_80", "2026-12")

    def test_an_ordinary_start_costs_no_extra_query(self):
        customer = CustomerFactory(plan=plan("free"))
        start_n(customer, 10)
        with CaptureQueriesContext(connection) as ordinary:
            start_n(customer, 1, offset=10)
        sql = [q["sql"] for q in ordinary.captured_queries]
        usage_sql = [s.strip() for s in sql if "usage_monthlyusage" in s or "usage_session_" in s]
        # One statement moves the counter (on PostgreSQL, the function call that also locks,
        # admits and records the session).
        assert len(usage_sql) == 1
        assert usage_sql[0].startswith(("UPDATE", "SELECT * FROM usage_session_start("))
        assert not any("billing_emailnotification" in s for s in sql)

    def test_no_email_address_records_nothing_and_still_starts(self):
        customer = CustomerFactory(plan=plan("free"), email="")
        start_n(customer, 80)
        assert usage_emails(customer) == []


@pytest.mark.django_db
class TestMinutePlans:
    def test_levels_are_reached_when_minutes_are_recorded(self, django_capture_on_commit_callbacks):
        customer = CustomerFactory(plan=plan("legacy_build"), email="b@example.com")  # 3,000 min
        with time_machine.travel(NOV, tick=False):
            start_n(customer, 3)
            session_end(session_id="s0", status="succeeded", minutes=Decimal("2399.99"))
            session_end(session_id="s1", status="failed", minutes=Decimal("500"))  # not billable
            assert usage_emails(customer) == []
            with django_capture_on_commit_callbacks(execute=True):
                session_end(session_id="s2", status="succeeded", minutes=Decimal("0.01"))
            assert usage_emails(customer) == [("usage_80", "2026-11")]
            assert "2,400 of the 3,000 minutes" in mail.outbox[-1].body
            start_n(customer, 1, offset=3)
            with django_capture_on_commit_callbacks(execute=True):
                session_end(session_id="s3", status="succeeded", minutes=Decimal("700"))
            assert usage_emails(customer)[-1] == ("usage_100", "2026-11")

    def test_jumping_past_both_levels_sends_only_the_highest(self):
        customer = CustomerFactory(plan=plan("legacy_build"))
        start_n(customer, 1)
        session_end(session_id="s0", status="succeeded", minutes=Decimal("3100"))
        assert usage_emails(customer) == [("usage_100", customer_period_label())]

    def test_an_ordinary_end_costs_no_extra_query(self):
        customer = CustomerFactory(plan=plan("legacy_build"))
        start_n(customer, 1)
        with CaptureQueriesContext(connection) as ordinary:
            session_end(session_id="s0", status="succeeded", minutes=Decimal("3"))
        sql = [q["sql"] for q in ordinary.captured_queries]
        assert len([s for s in sql if "usage_monthlyusage" in s]) == 1
        assert not any("billing_emailnotification" in s for s in sql)


def customer_period_label() -> str:
    from accounts.periods import period_of

    return period_of().label


@pytest.mark.django_db
def test_minutes_are_whole_and_the_largest_plan_is_not_told_to_upgrade(
    django_capture_on_commit_callbacks,
):
    from accounts.periods import period_of
    from usage.alerts import usage_alerts_send

    minutes = CustomerFactory(plan=plan("legacy_starter"), email="m@example.com")  # 1,500 min
    growth = CustomerFactory(plan=plan("growth"), email="g@example.com")  # the largest
    starter = CustomerFactory(plan=plan("starter"), email="s@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        usage_alerts_send(
            customer=minutes,
            plan=plan("legacy_starter"),
            period=period_of(NOV),
            used=Decimal("1200.15"),
        )
        usage_alerts_send(customer=growth, plan=plan("growth"), period=period_of(NOV), used=20000)
        usage_alerts_send(customer=starter, plan=plan("starter"), period=period_of(NOV), used=5000)
    bodies = {m.to[0]: m.body for m in mail.outbox}
    htmls = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
    assert "has used 1,200 of the 1,500 minutes" in bodies["m@example.com"]
    assert "Upgrade" not in bodies["g@example.com"] + htmls["g@example.com"]
    assert "Growth is our largest plan: reply to this e-mail" in bodies["g@example.com"]
    assert "Upgrade now to start sessions again" in bodies["s@example.com"]
