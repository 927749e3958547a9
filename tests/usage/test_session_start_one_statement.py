"""The one-statement session start on PostgreSQL (`_one_statement_start`, the
`usage_session_start` function): what it records, what it leaves to the general path, and the
state it leaves the connection in."""

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction
from psycopg.pq import TransactionStatus

from accounts.errors import RateLimited
from accounts.models import Customer, Plan
from tests.accounts.factories import CustomerFactory, ProjectFactory
from tests.support.races import race
from tests.usage.factories import MonthlyUsageFactory
from usage.alerts import usage_alert_levels
from usage.models import MonthlyUsage, Session
from usage.services import _one_statement_start, install_session_start_function, session_start

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def one_statement(session_id: str, external_id: str = "alice", requests: int | None = None):
    return _one_statement_start(
        session_id=session_id,
        external_id=external_id,
        project_id="default",
        now=NOW,
        requests_this_minute=requests,
    )


def customer_with_quota(quota: int, used: int):
    growth = Plan.objects.filter(code="growth")
    growth.update(included_sessions=quota, max_concurrent_sessions=10**6)
    customer = CustomerFactory(external_id="alice", plan=Plan.objects.get(code="growth"))
    ProjectFactory(customer=customer, project_id="default")
    MonthlyUsageFactory(customer=customer, period=NOW.date().replace(day=1), total_sessions=used)
    return customer


@pytest.mark.django_db
@pytest.mark.parametrize("quota", [1, 2, 3, 7, 10, 99, 101, 1234, 5000])
def test_it_leaves_exactly_the_starts_that_reach_an_alert_level_to_the_general_path(quota):
    """The statement computes the alert levels in SQL; they must be Python's, or an alert would
    be skipped (a start recorded at a level without its e-mail) or sent twice."""
    levels = usage_alert_levels(quota)
    around = {used for level in levels for used in (level - 3, level - 2, level - 1, level)}
    for used in sorted(u for u in around | {0, quota - 1} if 0 <= u < quota):
        with transaction.atomic():
            customer = customer_with_quota(quota, used)
            started = one_statement(f"s-{quota}-{used}")
            reaches_a_level = used + 1 in levels
            assert (started is None) == reaches_a_level, (quota, used, levels)
            if started is not None:
                assert started.created and started.session.customer_id == customer.pk
                assert MonthlyUsage.objects.get(customer=customer).total_sessions == used + 1
            transaction.set_rollback(True)


@pytest.mark.django_db
def test_what_it_leaves_to_the_general_path_changes_nothing():
    customer = customer_with_quota(100, 10)
    assert one_statement("s1", external_id="bob") is None  # unknown customer: provisioned later
    assert one_statement("s1", requests=10**6) is None  # over the rate limit
    assert one_statement("s1", requests=None).created  # recorded
    assert one_statement("s1") is None  # a replay
    ProjectFactory(customer=CustomerFactory(external_id="carol"), project_id="default")
    assert one_statement("s1", external_id="carol") is None  # another customer's session_id
    assert MonthlyUsage.objects.get(customer=customer).total_sessions == 11
    assert Session.objects.count() == 1


@pytest.mark.django_db
def test_a_refusal_it_left_is_raised_by_the_general_path(settings):
    settings.RATE_LIMITS_ENABLED = True
    customer_with_quota(100, 10)
    Plan.objects.filter(code="growth").update(requests_per_minute=2)
    for number in range(2):
        session_start(session_id=f"s{number}", external_id="alice", now=NOW)
    with pytest.raises(RateLimited):
        session_start(session_id="s2", external_id="alice", now=NOW)
    assert Session.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_it_is_its_own_transaction_and_leaves_the_connection_idle():
    customer = customer_with_quota(100, 10)
    assert connection.get_autocommit()
    assert one_statement("s1").created
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    # Committed: another connection (another thread's) sees it.
    seen = race(1, lambda _: Session.objects.filter(customer=customer, session_id="s1").exists())
    assert seen == [True]


@pytest.mark.django_db(transaction=True)
def test_a_failed_statement_is_rolled_back_and_the_connection_stays_usable():
    customer_with_quota(100, 10)
    with pytest.raises(DataError):
        one_statement("s1", external_id="al\x00ice")  # PostgreSQL text cannot hold a NUL
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    assert one_statement("s2").created
    assert MonthlyUsage.objects.get().total_sessions == 11


@pytest.mark.django_db
def test_inside_a_callers_transaction_a_failure_rolls_back_only_its_savepoint():
    customer = customer_with_quota(100, 10)
    with transaction.atomic():
        CustomerFactory(external_id="kept")
        with pytest.raises(DataError):
            one_statement("s1", external_id="al\x00ice")
        assert one_statement("s2").created
    assert MonthlyUsage.objects.get(customer=customer).total_sessions == 11
    assert Customer.objects.filter(external_id="kept").exists()


@pytest.mark.django_db(transaction=True)
def test_without_its_function_every_start_still_works_and_staff_are_told(caplog):
    customer_with_quota(100, 10)
    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION usage_session_start")
    try:
        started = session_start(session_id="s1", external_id="alice", now=NOW)
        assert started.created
        assert MonthlyUsage.objects.get().total_sessions == 11
        assert "run `manage.py migrate`" in caplog.text
    finally:
        install_session_start_function(connection)
    assert one_statement("s2").created
