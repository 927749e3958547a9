import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api import service_keys
from api.service_keys import service_key_create
from tests.factories import CustomerFactory, plan


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
def no_rate_limits(settings):
    settings.RATE_LIMITS_ENABLED = False
