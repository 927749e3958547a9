"""The customer pages' test data and reading: customers with a login, this month's usage,
sessions on given days, a signed-in client, a page's visible words.

`frozen_now` (the clock at NOW) is a fixture in `tests/fixtures/pages.py`.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

from django.test import Client

from accounts.models import Customer
from accounts.periods import period_of
from tests.accounts.factories import CustomerFactory, ProjectFactory, UserFactory, plan
from tests.usage.factories import MonthlyUsageFactory, SessionFactory
from usage.models import MonthlyUsage, Session, SessionStatus
from usage.services import usage_recount

# Mid-month, so that "this month" has days behind and ahead.
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
PASSWORD = "a-long-test-password"


def customer_with_login(plan_code: str = "starter", *, username: str, **fields) -> Customer:
    user = UserFactory(username=username, password=PASSWORD)
    return CustomerFactory(plan=plan(plan_code), user=user, external_id=username, **fields)


def set_month_usage(
    customer: Customer, *, sessions: int = 0, failed: int = 0, minutes: str = "0", now=NOW
) -> MonthlyUsage:
    """This month's counters as the metering would have left them (no Session rows)."""
    return MonthlyUsageFactory(
        customer=customer,
        period=period_of(now).start,
        total_sessions=sessions + failed,
        successful_sessions=sessions,
        failed_sessions=failed,
        total_minutes=Decimal(minutes),
        billable_minutes=Decimal(minutes),
    )


def add_sessions(
    customer: Customer,
    per_day: dict[int, int],
    *,
    failed_per_day: dict[int, int] | None = None,
    project_id: str = "default",
    now=NOW,
) -> None:
    """Ended sessions on the given days of `now`'s month; the month's counters are rebuilt."""
    period = period_of(now)
    project = ProjectFactory(customer=customer, project_id=project_id)
    rows = []
    for status, counts in (
        (SessionStatus.SUCCEEDED, per_day),
        (SessionStatus.FAILED, failed_per_day or {}),
    ):
        for day, count in counts.items():
            started = period.starts_at + timedelta(days=day - 1, hours=10)
            for n in range(count):
                rows.append(
                    SessionFactory.build(
                        session_id=f"{customer.external_id}-{project_id}-{status}-{day}-{n}",
                        customer=customer,
                        project=project,
                        period=period.start,
                        status=status,
                        started_at=started + timedelta(minutes=n),
                        ended_at=started + timedelta(minutes=n + 2),
                        minutes=Decimal(2),
                    )
                )
    Session.objects.bulk_create(rows)
    usage_recount(customer=customer, period=period.start)


def signed_in(customer: Customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def text(html: str) -> str:
    """A page's visible words, whitespace collapsed; inline tags join their neighbours."""
    html = re.sub(r"</?(?:strong|em|a|span|time|small|code)\b[^>]*>", "", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
