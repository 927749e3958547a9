"""Fixtures shared by every app's tests, the registered fixture modules, and the markers' rules.

- `tests/fixtures/`: one fixture module per external service or shared setup (the Stripe
  stand-in, the browser, the pages' clock), registered below for the whole suite.
- `tests/support/`: plain helpers that tests import (driving the stand-in, the browser, page
  data, races).
- `tests/<app>/factories.py`: the factories of each app's rows.
"""

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from api import service_keys
from api.service_keys import service_key_create
from tests.accounts.factories import CustomerFactory, UserFactory, plan

pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.fixtures.stripe_standin",
    "tests.fixtures.browser",
    "tests.fixtures.pages",
    "tests.fixtures.tasks",
]

POSTGRES_ONLY = (
    "needs PostgreSQL (row locks, parallel transactions); CI runs it with DATABASE_URL=postgres://…"
)


def pytest_collection_modifyitems(config, items):
    """`postgres`-marked tests (real row locks and parallel transactions) are skipped on any
    other database, with the reason."""
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason=POSTGRES_ONLY)
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    service_keys._recently_seen.clear()
    yield
    cache.clear()
    service_keys._recently_seen.clear()


@pytest.fixture
def service_key(db) -> str:
    _, raw_key = service_key_create(name="tests")
    return raw_key


@pytest.fixture
def api(service_key) -> APIClient:
    """An API client authenticated with a service key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    return client


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def customer_on(db):
    def make(code: str, **fields):
        return CustomerFactory(plan=plan(code), **fields)

    return make


@pytest.fixture
def staff_client(client, db):
    """The admin, signed in as the superuser `staff` (audit rows name it `admin:staff`)."""
    user = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def no_rate_limits(settings):
    settings.RATE_LIMITS_ENABLED = False
