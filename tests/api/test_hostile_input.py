"""Hostile input gets a 4xx JSON `{"code", "detail"}`, never a 500 (`api/hostile.py`): the
cases a probe found, then property-based tests of the session, usage and checkout endpoints."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import Customer
from api.service_keys import service_key_create
from usage.models import Session

pytestmark = pytest.mark.django_db

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc"]), min_size=1, max_size=5),
    st.sampled_from(["a\x00b", "\ud800", "x" * 300, "", " ", "..", "€", "\U0001f600"]),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(HOSTILE_TEXT, children),
    max_leaves=10,
)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_json_refusal_or_success(response) -> None:
    assert response.status_code < 500, response.content[:300]
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body.get("code"), str) and body.get("detail"), body


def raw_post(client, path: str, body: str):
    return client.post(path, data=body, content_type="application/json")


class TestWhatTheProbeFound:
    def test_a_nul_byte_in_user_id_is_a_400(self, api):
        response = api.get("/billing/usage?user_id=a%00b")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"

    def test_a_nul_byte_in_a_session_id_in_the_path_is_a_400(self, api):
        response = api.post(
            "/api/v1/sessions/a%00b/end", {"status": "succeeded", "minutes": "1"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"

    def test_a_lone_surrogate_in_session_id_on_the_fast_path_is_a_400(self, api):
        body = '{"session_id": "\\ud800", "user_id": "alice"}'
        response = raw_post(api, "/api/v1/sessions", body)
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"
        assert not Session.objects.exists() and not Customer.objects.exists()

    def test_a_lone_surrogate_in_the_status_of_an_end_is_a_400(self, api):
        response = raw_post(api, "/api/v1/sessions/s1/end", '{"status": "\\ud800"}')
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"

    def test_brackets_nested_100000_deep_on_checkout_are_a_400(self, client):
        from tests.accounts.factories import CustomerFactory, UserFactory, plan

        user = UserFactory(username="mallory")
        CustomerFactory(external_id="mallory", user=user, plan=plan("free"))
        client.force_login(user)
        response = raw_post(client, "/billing/checkout", "[" * 100_000)
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"

    def test_a_body_over_the_limit_is_a_413_json(self, api, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
        body = json.dumps({"session_id": "s1", "user_id": "a", "email": "x" * 20_000})
        response = raw_post(api, "/api/v1/sessions", body)
        assert response.status_code == 413
        assert response.json() == {
            "code": "too_large",
            "detail": "The request body is over the 10,000-byte limit.",
        }


@pytest.fixture
def key() -> str:
    return service_key_create(name="hypothesis")[1]


def service_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@PROPERTY
@given(body=ANY_JSON)
def test_any_json_at_session_start_gets_a_json_answer_never_a_500(key, no_rate_limits, body):
    # json.dumps escapes a lone surrogate as \ud800, as any client's bytes would carry it.
    response = raw_post(service_client(key), "/api/v1/sessions", json.dumps(body))
    assert_json_refusal_or_success(response)


@PROPERTY
@given(
    session_id=HOSTILE_TEXT,
    user_id=HOSTILE_TEXT,
    project_id=st.one_of(st.none(), HOSTILE_TEXT),
    email=st.one_of(st.none(), HOSTILE_TEXT),
)
def test_any_text_in_the_session_fields_gets_a_json_answer_never_a_500(
    key, no_rate_limits, session_id, user_id, project_id, email
):
    body = {"session_id": session_id, "user_id": user_id}
    if project_id is not None:
        body["project_id"] = project_id
    if email is not None:
        body["email"] = email
    response = raw_post(service_client(key), "/api/v1/sessions", json.dumps(body))
    assert_json_refusal_or_success(response)


@PROPERTY
@given(status=HOSTILE_TEXT, minutes=st.one_of(HOSTILE_TEXT, st.integers(), st.floats()))
def test_any_session_end_gets_a_json_answer_never_a_500(key, status, minutes):
    body = json.dumps({"status": status, "minutes": minutes}, allow_nan=True)
    response = raw_post(service_client(key), "/api/v1/sessions/some-session/end", body)
    assert_json_refusal_or_success(response)


@PROPERTY
@given(user_id=HOSTILE_TEXT)
def test_any_user_id_on_a_usage_read_gets_a_json_answer_never_a_500(key, no_rate_limits, user_id):
    # The bytes a client would send, surrogates included (invalid UTF-8 once percent-decoded).
    query = quote(user_id.encode("utf-8", "surrogatepass"), safe="")
    response = service_client(key).get(f"/billing/usage?user_id={query}")
    assert_json_refusal_or_success(response)


@PROPERTY
@given(body=ANY_JSON)
def test_any_json_at_checkout_gets_a_json_answer_never_a_500(key, body):
    response = raw_post(service_client(key), "/billing/checkout", json.dumps(body))
    assert_json_refusal_or_success(response)
