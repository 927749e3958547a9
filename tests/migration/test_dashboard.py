"""The admin's first page (`migration/dashboard/`, `migration/admin/dashboard.py`): revenue now
and after the scheduled moves, customers per plan, the move to session plans, grandfathering
ends per week, sessions and refusals, health."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from djstripe.models import WebhookEventTrigger

from accounts.models import ChangeSource, CustomerStatus, EmailStatus, Plan
from accounts.services.plan_change import customer_change_plan
from api.metrics import refusal_count
from billing.services.reconcile import reconcile_with_stripe
from migration.dashboard import figures
from tests.accounts.factories import CustomerFactory, EmailNotificationFactory, UserFactory, plan
from tests.support.pages import NOW, add_sessions, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def grandfathered(code: str, *, until, **fields):
    target = plan(code).migrates_to
    return CustomerFactory(
        plan=plan(code), grandfathered_until=until, grandfather_plan=target, **fields
    )


def test_revenue_now_and_after_the_scheduled_moves():
    CustomerFactory(plan=plan("starter"))  # $29
    CustomerFactory(plan=plan("growth"), status=CustomerStatus.CANCELED)  # pays nothing
    grandfathered("legacy_pro", until=NOW + timedelta(days=30))  # $39, then Growth $99
    CustomerFactory(plan=plan("legacy_build"), migration_exempt=True)  # $19 for good
    CustomerFactory(plan=plan("free"))

    revenue = figures.revenue()

    assert revenue.now_cents == 2900 + 3900 + 1900
    assert revenue.after_moves_cents == 2900 + 9900 + 1900
    assert revenue.change_cents == 6000 and revenue.paying == 3


def test_the_funnel_counts_each_customer_once_where_it_stands():
    CustomerFactory(plan=plan("legacy_build"))
    CustomerFactory(plan=plan("legacy_agency"))
    grandfathered("legacy_pro", until=NOW + timedelta(days=10))
    CustomerFactory(plan=plan("legacy_pro"), migration_exempt=True)
    moved = CustomerFactory(plan=plan("legacy_build"))
    for target in ("starter", "growth"):  # two changes, one customer
        customer_change_plan(
            customer=moved, plan=plan(target), source=ChangeSource.ADMIN, actor="t", reason="r"
        )
    CustomerFactory(plan=plan("starter"))  # never on a legacy plan

    assert figures.migration_funnel() == figures.Funnel(
        on_legacy=2, grandfathered=1, exempt=1, moved=1
    )


def test_grandfathering_ends_per_week_from_this_monday():
    # NOW is Wednesday 18 November 2026: this week started on Monday the 16th.
    grandfathered("legacy_build", until=NOW - timedelta(hours=1))  # ended, waiting
    grandfathered("legacy_build", until=NOW + timedelta(days=2))  # Friday 20th: this week
    grandfathered("legacy_pro", until=NOW + timedelta(days=13))  # 1 Dec: two weeks on
    grandfathered("legacy_pro", until=NOW + timedelta(days=14))
    grandfathered("legacy_pro", until=NOW + timedelta(days=200))  # beyond 12 weeks
    grandfathered("legacy_pro", until=NOW + timedelta(days=3), migration_exempt=True)

    overdue, weeks = figures.grandfathering_ends_per_week()

    assert overdue == 1
    assert len(weeks) == 12 and f"{weeks[0].starts:%a %d %b %H:%M}" == "Mon 16 Nov 00:00"
    assert [week.customers for week in weeks[:4]] == [1, 0, 2, 0]
    assert sum(week.customers for week in weeks) == 3


def test_sessions_today_and_this_month_and_refusals_of_the_last_24_hours():
    customer = CustomerFactory(plan=plan("starter"))
    add_sessions(customer, {17: 5, 18: 3}, failed_per_day={18: 1})
    refusal_count("quota_exceeded", now=NOW - timedelta(hours=25))  # too old
    refusal_count("quota_exceeded", now=NOW - timedelta(hours=23))
    refusal_count("rate_limited", now=NOW)
    refusal_count("rate_limited", now=NOW)

    metering = figures.metering()

    assert metering.sessions_today == 4  # 3 succeeded and 1 failed started on the 18th
    assert (metering.sessions_month, metering.failed_month) == (8, 1)
    assert metering.refusals == {
        "quota_exceeded": 1,
        "concurrency_limit": 0,
        "rate_limited": 2,
        "project_limit": 0,
    }


def test_a_refused_session_start_reaches_the_dashboard(api, staff_client):
    Plan.objects.filter(code="free").update(included_sessions=0)
    refused = api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "bob"}, format="json")
    assert refused.status_code == 402

    page = text(staff_client.get("/admin/").content.decode())

    assert "Refused in the last 24 h: 1" in page
    assert "Quota used up (402) 1" in page


@pytest.mark.usefixtures("database_queue")
def test_health_reads_failures_the_queue_and_the_last_reconciliation(staff_client):
    customer = CustomerFactory(plan=plan("starter"))
    EmailNotificationFactory(customer=customer, status=EmailStatus.FAILED, error="550")
    EmailNotificationFactory(customer=customer, status=EmailStatus.PENDING)
    WebhookEventTrigger.objects.create(  # its processing failed (one waiting is no failure)
        remote_ip="127.0.0.1",
        headers={},
        body="{}",
        valid=True,
        processed=False,
        exception="StripeUnavailable: try again",
    )
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        reconcile_with_stripe.enqueue()
    DBTaskResult.objects.filter(task_path__endswith="reconcile_with_stripe").update(
        status=TaskResultStatus.SUCCESSFUL,
        finished_at=NOW - timedelta(hours=9),
        return_value={"checked": 1200, "drifted": ["alice: plan starter here"], "errors": []},
    )

    health = figures.health()
    assert health.webhook_failures == 1
    assert health.gauge("aigate_emails", "failed") == 1
    assert health.gauge("aigate_emails", "pending") == 1
    assert health.reconciliation.checked == 1200 and health.reconciliation.drifted == 1

    page = text(staff_client.get("/admin/").content.decode())
    assert "Stripe webhooks 1 failed in 24 h" in page
    assert "E-mails 1 failed, 1 waiting" in page
    assert "Reconciliation with Stripe done 18 Nov 2026, 03:00: 1,200 checked, 1 drifted" in page
    assert "Health: 3 need a look" in page


def test_the_page_shows_the_figures_formatted(staff_client):
    CustomerFactory(plan=plan("starter"))
    grandfathered("legacy_pro", until=NOW + timedelta(days=13))

    page = text(staff_client.get("/admin/").content.decode())

    assert "Monthly recurring revenue $68.00 now; paying customers: 2" in page
    assert "$128.00 after the scheduled moves +$60.00" in page
    assert "Starter 1" in page and "Pro (minutes, legacy) 1" in page
    assert "Grandfathered (moving on their date) 1" in page
    assert "Moving in the next 12 weeks: 1." in page
    assert "<svg" in staff_client.get("/admin/").content.decode()


def test_staff_who_may_not_view_customers_get_the_list_of_screens_only(client):
    user = UserFactory(username="keys", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_servicekey"))
    client.force_login(user)
    CustomerFactory(plan=plan("starter"))

    page = client.get("/admin/").content.decode()

    assert "Monthly recurring revenue" not in page and "$29.00" not in page
    assert "/admin/api/servicekey/" in page
