"""Real races on PostgreSQL: many threads, each with its own connection, released together.
Session starts and ends go to the WSGI application gunicorn serves, through the service lane
(api/fastlane.py) for the plain ones, as in production."""

import json
from collections import Counter

import pytest

from accounts.models import Customer, Plan, PlanChange
from config.wsgi import application
from tests.accounts.factories import CustomerFactory
from tests.support.races import race
from tests.support.wsgi import answer, environ
from tests.usage.factories import MonthlyUsageFactory
from usage.models import MonthlyUsage, Session

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def start(key, session_id, user_id):
    body = json.dumps({"session_id": session_id, "user_id": user_id}).encode()
    return answer(application, environ("POST", "/api/v1/sessions", body=body, key=key))[0]


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.RATE_LIMITS_ENABLED = False


def test_simultaneous_starts_never_exceed_the_quota(service_key):
    Plan.objects.filter(code="free").update(max_concurrent_sessions=1000)
    alice = CustomerFactory(external_id="alice")
    MonthlyUsageFactory(customer=alice, total_sessions=90)
    codes = race(24, lambda i: start(service_key, f"s{i}", "alice"))
    assert Counter(codes) == {201: 10, 402: 14}
    row = MonthlyUsage.objects.get(customer=alice)
    assert row.total_sessions == 100
    assert Session.objects.filter(customer=alice).count() == 10


def test_simultaneous_starts_never_exceed_the_concurrency_limit(service_key):
    CustomerFactory(external_id="alice", plan=Plan.objects.get(code="starter"))  # 10 at once
    codes = race(30, lambda i: start(service_key, f"s{i}", "alice"))
    assert Counter(codes) == {201: 10, 429: 20}
    assert Session.objects.filter(status="active").count() == 10
    assert MonthlyUsage.objects.get().total_sessions == 10


def test_simultaneous_retries_of_one_session_count_once(service_key):
    CustomerFactory(external_id="alice", plan=Plan.objects.get(code="growth"))
    codes = race(20, lambda i: start(service_key, "same-session", "alice"))
    assert Counter(codes) == {201: 1, 200: 19}
    assert Session.objects.count() == 1
    assert MonthlyUsage.objects.get().total_sessions == 1


def test_same_session_id_for_two_customers_counts_once(service_key):
    for name in ("alice", "bob"):
        CustomerFactory(external_id=name, plan=Plan.objects.get(code="growth"))
    codes = race(16, lambda i: start(service_key, "shared", "alice" if i % 2 else "bob"))
    assert Session.objects.count() == 1
    owner = Session.objects.get().customer.external_id
    assert sum(MonthlyUsage.objects.values_list("total_sessions", flat=True)) == 1
    assert Counter(codes)[201] == 1
    assert Counter(codes)[409] == 8  # every request of the other customer
    assert MonthlyUsage.objects.get(customer__external_id=owner).total_sessions == 1


def test_simultaneous_first_requests_provision_one_customer(service_key):
    """Three times over: the customer's row appears while the others wait, the moment at
    which a start that did not take the row's lock would deadlock or count unlocked."""
    Plan.objects.filter(code="free").update(max_concurrent_sessions=100)
    for newcomer in ("newcomer-1", "newcomer-2", "newcomer-3"):
        codes = race(
            12, lambda i, newcomer=newcomer: start(service_key, f"{newcomer}-{i}", newcomer)
        )
        assert Counter(codes) == {201: 12}
        assert Customer.objects.filter(external_id=newcomer).count() == 1
        assert PlanChange.objects.filter(customer__external_id=newcomer).count() == 1
        assert MonthlyUsage.objects.get(customer__external_id=newcomer).total_sessions == 12


def test_simultaneous_ends_apply_once(service_key):
    CustomerFactory(external_id="alice", plan=Plan.objects.get(code="growth"))
    assert start(service_key, "s1", "alice") == 201

    def end(i):
        status = "failed" if i % 2 else "succeeded"
        body = json.dumps({"status": status, "minutes": 3}).encode()
        return answer(
            application, environ("POST", "/api/v1/sessions/s1/end", body=body, key=service_key)
        )[0]

    assert set(race(12, end)) == {200}
    row = MonthlyUsage.objects.get()
    assert row.successful_sessions + row.failed_sessions == 1
    assert float(row.total_minutes) == 3
