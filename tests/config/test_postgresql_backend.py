"""config/postgresql: the per-request connection check costs no round trip on a healthy
connection, and still replaces one the server has closed before a request uses it."""

import time

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def persistent_connection(monkeypatch):
    """Connections kept across requests, checked at each one's start, as in production."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    yield
    connection.close()


@pytest.fixture
def select_one_checks(monkeypatch):
    """How many times Django's own check (`SELECT 1`) ran."""
    calls = []
    original = DjangoWrapper.is_usable

    def counted(self):
        calls.append(self.alias)
        return original(self)

    monkeypatch.setattr(DjangoWrapper, "is_usable", counted)
    return calls


def new_request() -> None:
    """What Django does at each request's start, then the request's first query."""
    connection.close_if_unusable_or_obsolete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_healthy_connection_is_checked_without_a_round_trip(select_one_checks):
    first = new_request()
    for _ in range(5):
        assert new_request() == first  # the same connection, kept
    assert select_one_checks == []


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it(
    select_one_checks,
):
    old_pid = new_request()
    params = connection.get_connection_params()
    with psycopg.connect(
        dbname=params["dbname"], host=params.get("host"), user=params.get("user"), autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    time.sleep(0.2)  # the server's notice and end of stream reach the socket
    new_pid = new_request()  # no error: the dead connection was replaced first
    assert new_pid != old_pid
    assert select_one_checks == ["default"]  # something was waiting: Django's check decided
