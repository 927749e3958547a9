"""`manage.py create_service_key`: the raw key is printed once, only its digest is stored."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from api.models import ServiceKey
from api.service_keys import service_key_digest


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_create_service_key_prints_the_key_last_and_stores_only_its_hash():
    out, err = run("create_service_key", "proxy-production")
    raw_key = out.strip().splitlines()[-1]
    key = ServiceKey.objects.get()
    assert key.name == "proxy-production"
    assert key.key_hash == service_key_digest(raw_key)
    assert raw_key not in (key.key_hash, key.prefix)
    assert raw_key.startswith(key.prefix)
    assert "Bearer" in err


@pytest.mark.django_db
def test_create_service_key_rejects_an_empty_name():
    with pytest.raises(CommandError, match="needs a name"):
        run("create_service_key", "  ")


@pytest.mark.django_db
def test_a_new_key_authenticates_at_once():
    from rest_framework.test import APIClient

    raw_key = run("create_service_key", "dash")[0].strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/billing/usage", {"user_id": "x"}).status_code == 200
