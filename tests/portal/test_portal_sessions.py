"""`POST /api/v1/portal-sessions`: the dashboard's one-time link into the portal
(`portal/api.py`, `portal/sign_in.py`, `accounts/services/sign_in.py`)."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import given
from rest_framework.test import APIClient

from accounts.models import Customer, SignInLink, SignInPurpose
from accounts.services.sign_in import sign_in_digest
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.api.test_hostile_input import ANY_JSON, PROPERTY, assert_json_refusal_or_success
from tests.support.pages import NOW, customer_with_login, set_month_usage, signed_in, text

pytestmark = pytest.mark.django_db
ENDPOINT = "/api/v1/portal-sessions"
DASHBOARD = "https://app.ai-gate.dev"


@pytest.fixture(autouse=True)
def dashboard_origin(settings):
    settings.SITE_URL = "http://testserver"
    settings.PORTAL_RETURN_ORIGINS = [DASHBOARD]


def portal_session(api, user_id: str, **fields):
    return api.post(ENDPOINT, {"user_id": user_id, **fields}, format="json")


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_a_portal_session_signs_the_customer_in_once_and_lands_on_its_usage(api, frozen_now):
    alice = customer_with_login("starter", username="alice")
    set_month_usage(alice, sessions=1234)

    response = portal_session(api, "alice")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"url", "expiresAt"}
    assert body["expiresAt"] == "2026-11-18T12:10:00Z"  # 10 minutes
    assert body["url"].startswith("http://testserver/accounts/link/")
    browser = Client()
    landed = browser.get(path_of(body["url"]))
    assert landed.status_code == 302
    assert landed["Location"] == "/account/usage/"
    page = text(browser.get("/account/usage/").content.decode())
    assert "Account alice" in page and "1,234 / 5,000 sessions" in page

    again = Client().get(path_of(body["url"]))
    assert again.status_code == 410
    assert "This link no longer works" in text(again.content.decode())
    assert 'action="/accounts/login/link/"' in again.content.decode()  # offers an e-mail link


def test_only_the_digest_of_the_token_is_stored(api):
    CustomerFactory(external_id="alice")
    url = portal_session(api, "alice").json()["url"]
    token = path_of(url).rstrip("/").rsplit("/", 1)[-1]
    link = SignInLink.objects.get()
    assert link.digest == sign_in_digest(token) != token
    assert link.purpose == SignInPurpose.PORTAL_SESSION
    stored = json.dumps(list(SignInLink.objects.values()), default=str)
    assert token not in stored


def test_the_link_expires_after_ten_minutes(api):
    customer_with_login("starter", username="alice")
    with time_machine.travel(NOW, tick=False):
        url = portal_session(api, "alice").json()["url"]
    with time_machine.travel(NOW + timedelta(minutes=10, seconds=1), tick=False):
        expired = Client().get(path_of(url))
    assert expired.status_code == 410
    assert "This link no longer works" in text(expired.content.decode())
    with time_machine.travel(NOW + timedelta(minutes=9, seconds=59), tick=False):
        assert Client().get(path_of(url))["Location"] == "/account/usage/"


def test_without_a_service_key_it_is_a_401(anon):
    CustomerFactory(external_id="alice")
    response = anon.post(ENDPOINT, {"user_id": "alice"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    bad_key = APIClient()
    bad_key.credentials(HTTP_AUTHORIZATION="Bearer aig_not-a-key")
    assert bad_key.post(ENDPOINT, {"user_id": "alice"}, format="json").status_code == 401
    assert not SignInLink.objects.exists()


def test_a_signed_in_customer_cannot_mint_links():
    alice = customer_with_login("starter", username="alice")
    customer_with_login("starter", username="bob")
    client = APIClient()
    client.force_login(alice.user)
    response = client.post(ENDPOINT, {"user_id": "bob"}, format="json")
    assert response.status_code == 403
    assert not SignInLink.objects.exists()


def test_an_unknown_user_id_is_a_404_and_provisions_nothing(api):
    response = portal_session(api, "nobody")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not Customer.objects.filter(external_id="nobody").exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": ""},
        {"user_id": "a\x00b"},
        {"user_id": "x" * 256},
        {"user_id": ["alice"]},
        {"user_id": "alice", "return_url": 5},
    ],
)
def test_bad_input_is_a_400(api, body):
    CustomerFactory(external_id="alice")
    response = api.post(ENDPOINT, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid", "parse_error")  # a NUL fails the parser
    assert not SignInLink.objects.exists()


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://app.ai-gate.dev@evil.example/",
        "https://evil.example@app.ai-gate.dev/",
        "https://app.ai-gate.dev.evil.example/",
        "http://app.ai-gate.dev/",  # the allowed origin is https
        "https://app.ai-gate.dev:8443/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://app.ai-gate.dev/\r\nX: y",
        "https:///app.ai-gate.dev",
        "https://[::1/",
        "https://app.ai-gate.dev/" + "x" * 2000,
    ],
)
def test_a_return_url_off_the_site_and_allowed_origins_is_refused(api, return_url):
    CustomerFactory(external_id="alice")
    response = portal_session(api, "alice", return_url=return_url)
    assert response.status_code == 400, return_url
    body = response.json()
    assert body["code"] == "invalid" and "return_url" in body["errors"]
    assert not SignInLink.objects.exists()


@pytest.mark.parametrize(
    ("return_url", "stored"),
    [
        (
            "https://app.ai-gate.dev/projects/7?tab=usage",
            "https://app.ai-gate.dev/projects/7?tab=usage",
        ),
        ("https://APP.ai-gate.dev:443/", "https://APP.ai-gate.dev:443/"),
        ("/pricing/", "http://testserver/pricing/"),
        ("http://testserver/account/usage/", "http://testserver/account/usage/"),
        ("", ""),
    ],
)
def test_a_return_url_on_the_site_or_an_allowed_origin_is_kept(api, return_url, stored):
    CustomerFactory(external_id="alice")
    assert portal_session(api, "alice", return_url=return_url).status_code == 201
    assert SignInLink.objects.get().return_url == stored


def test_back_to_dashboard_leads_to_the_return_url(api, settings):
    customer_with_login("starter", username="alice")
    url = portal_session(api, "alice", return_url=f"{DASHBOARD}/home").json()["url"]
    browser = Client()
    browser.get(path_of(url))
    html = browser.get("/account/usage/").content.decode()
    assert f'<a href="{DASHBOARD}/home" data-testid="back-to-dashboard"' in html
    assert 'data-testid="back-to-dashboard"' in browser.get("/pricing/").content.decode()

    # an origin no longer allowed is not shown any more
    settings.PORTAL_RETURN_ORIGINS = []
    assert "back-to-dashboard" not in browser.get("/account/usage/").content.decode()


def test_without_a_return_url_there_is_no_back_link(api):
    customer_with_login("starter", username="alice")
    browser = Client()
    browser.get(path_of(portal_session(api, "alice").json()["url"]))
    assert "back-to-dashboard" not in browser.get("/account/usage/").content.decode()


def test_a_customer_without_a_login_gets_one_with_no_usable_password(api):
    customer = CustomerFactory(external_id="cust_42", email="ops@example.com", plan=plan("growth"))
    browser = Client()
    browser.get(path_of(portal_session(api, "cust_42").json()["url"]))

    customer.refresh_from_db()
    user = customer.user
    assert user is not None
    assert (user.username, user.email) == ("cust_42", "ops@example.com")
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser
    page = text(browser.get("/account/usage/").content.decode())
    assert "Account cust_42" in page
    assert "Change your password" not in page  # it has none to change

    # the next link signs in the same login
    other = Client()
    other.get(path_of(portal_session(api, "cust_42").json()["url"]))
    assert "Account cust_42" in text(other.get("/account/usage/").content.decode())
    assert get_user_model().objects.count() == 1


def test_a_login_is_never_named_after_someone_else(api):
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    customer = CustomerFactory(external_id="admin")
    Client().get(path_of(portal_session(api, "admin").json()["url"]))
    customer.refresh_from_db()
    assert customer.user.username == f"customer-{customer.pk}"
    assert not customer.user.is_staff


def test_a_customer_link_never_signs_in_a_staff_login(api):
    staff = UserFactory(username="sam", is_staff=True)
    CustomerFactory(external_id="sam", user=staff)
    browser = Client()
    refused = browser.get(path_of(portal_session(api, "sam").json()["url"]))
    assert refused.status_code == 410
    assert "_auth_user_id" not in browser.session
    assert browser.get("/admin/").status_code == 302


def test_an_inactive_login_is_not_signed_in(api):
    alice = customer_with_login("starter", username="alice")
    alice.user.is_active = False
    alice.user.save()
    browser = Client()
    assert browser.get(path_of(portal_session(api, "alice").json()["url"])).status_code == 410
    assert "_auth_user_id" not in browser.session


def test_a_link_replaces_whoever_was_signed_in_and_shows_only_its_customer(api):
    alice = customer_with_login("starter", username="alice")
    bob = customer_with_login("growth", username="bob")
    set_month_usage(alice, sessions=11)
    set_month_usage(bob, sessions=22)
    browser = signed_in(alice)
    old_session = browser.session.session_key

    browser.get(path_of(portal_session(api, "bob").json()["url"]))

    assert browser.session.session_key != old_session  # a new session: no fixation
    page = text(browser.get("/account/usage/").content.decode())
    assert "Account bob" in page and "22 / 20,000 sessions" in page
    assert "alice" not in page
    assert browser.get("/billing/usage?user_id=alice").status_code == 403
    assert browser.get("/billing/usage").json()["sessionsUsed"] == 22


def test_a_head_request_does_not_use_the_link(api):
    customer_with_login("starter", username="alice")
    url = path_of(portal_session(api, "alice").json()["url"])
    assert Client().head(url).status_code == 200
    assert Client().get(url)["Location"] == "/account/usage/"


@pytest.mark.parametrize("token", ["x", "a" * 43 + "\x00", "../../admin", "%00", "a" * 500])
def test_malformed_tokens_get_the_same_page(token):
    response = Client().get(f"/accounts/link/{token}/")
    assert response.status_code in (404, 410)
    if response.status_code == 410:
        assert "This link no longer works" in text(response.content.decode())


def test_the_endpoint_is_in_the_openapi_schema(anon):
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"][ENDPOINT]["post"]
    assert set(operation["responses"]) >= {"201", "400", "401", "404"}


@pytest.fixture
def key(db):
    from api.service_keys import service_key_create

    return service_key_create(name="hostile")[1]


@PROPERTY
@given(body=ANY_JSON)
def test_any_json_gets_a_json_answer_never_a_500(key, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(ENDPOINT, data=json.dumps(body), content_type="application/json")
    assert_json_refusal_or_success(response)
