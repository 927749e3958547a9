"""config/wsgi.py: service-key requests to the metering API's hot paths take the short
middleware chain, everything else the full one, and both chains answer alike."""

import json

import pytest
from django.conf import settings

from config.wsgi import application, django_application, takes_the_api_chain
from tests.accounts.factories import CustomerFactory, plan
from tests.support.wsgi import answer, environ

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("method", "path", "authorization", "api_chain"),
    [
        ("GET", "/billing/usage", "Bearer aig_x", True),
        ("GET", "/billing/usage/history", "bearer aig_x", True),
        ("POST", "/api/v1/sessions", "Bearer aig_x", True),
        ("POST", "/api/v1/sessions/s1/end", "Bearer aig_x", True),
        ("GET", "/billing/usage", "", False),  # a signed-in customer: sessions and CSRF
        ("GET", "/billing/usage", "Basic eDp5", False),
        ("POST", "/billing/portal", "Bearer aig_x", False),
        ("GET", "/api/v1/plans", "Bearer aig_x", False),
        ("GET", "/admin/", "Bearer aig_x", False),
        ("GET", "/billing/usagex", "Bearer aig_x", False),
    ],
)
def test_which_requests_take_the_short_chain(method, path, authorization, api_chain):
    env = environ(method, path)
    if authorization:
        env["HTTP_AUTHORIZATION"] = authorization
    assert takes_the_api_chain(env) is api_chain


def test_the_short_chain_is_the_full_one_less_what_only_sessions_and_sign_ins_use():
    assert settings.API_MIDDLEWARE == [
        "django.middleware.security.SecurityMiddleware",
        "api.hostile.HostileInputMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "portal.security.ContentSecurityPolicyMiddleware",
    ]


def test_a_usage_read_answers_alike_on_both_chains(service_key):
    CustomerFactory(external_id="alice", plan=plan("growth"))
    read = environ("GET", "/billing/usage", query="user_id=alice", key=service_key)
    assert takes_the_api_chain(read)
    short = answer(application, read)
    full = answer(django_application, environ("GET", "/billing/usage", query="user_id=alice",
                                              key=service_key))  # fmt: skip
    assert short[0] == 200
    assert short == full


def test_a_session_start_answers_alike_on_both_chains(service_key):
    CustomerFactory(external_id="alice", plan=plan("growth"))
    answers = [
        answer(app, environ("POST", "/api/v1/sessions", key=service_key,
                            body=json.dumps({"session_id": sid, "user_id": "alice"}).encode()))
        for app, sid in ((application, "s1"), (django_application, "s2"))
    ]  # fmt: skip
    (short_status, short_headers, short_body), (full_status, full_headers, full_body) = answers
    assert short_status == full_status == 201
    assert short_headers == full_headers
    assert json.loads(short_body).keys() == json.loads(full_body).keys()


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "key", "status"),
    [
        ("GET", "/billing/usage", "user_id=alice", b"", "aig_wrong", 401),
        ("GET", "/billing/usage", "", b"", "", 400),  # the service key is added below
        ("GET", "/billing/usage", "user_id=al%00ice", b"", "", 400),
        ("POST", "/api/v1/sessions", "", b'{"user_id": "alice"}', "", 400),
        ("POST", "/api/v1/sessions", "", b"{not json", "", 400),
        ("PUT", "/api/v1/sessions", "", b"{}", "", 405),
    ],
)
def test_errors_answer_alike_on_both_chains(service_key, method, path, query, body, key, status):
    key = key or service_key
    short = answer(application, environ(method, path, query=query, body=body, key=key))
    full = answer(django_application, environ(method, path, query=query, body=body, key=key))
    assert short[0] == status
    assert short == full
    assert json.loads(short[2])["code"]
