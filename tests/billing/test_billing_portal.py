"""`POST /billing/portal`: a session of Stripe's billing portal, for paying customers only.

Against the stand-in over HTTP (the real stripe client). The portal's own behaviour (a new card
paying the open invoice, cancelling at the period's end) is in `test_billing_portal_flows.py`.
"""

from __future__ import annotations

import json

import pytest
import stripe
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import Customer
from tests.api.test_hostile_input import (
    ANY_JSON,
    HOSTILE_TEXT,
    PROPERTY,
    assert_json_refusal_or_success,
    raw_post,
)
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS

pytestmark = pytest.mark.django_db
URL = "/billing/portal"


def paying(username: str, **fields) -> Customer:
    """A customer with a Stripe customer at the stand-in and a subscription on record."""
    customer = customer_with_login("starter", username=username, **fields)
    stripe_customer = stripe.Customer.create(email=f"{username}@example.com", **OPTIONS)
    customer.stripe_customer_id = stripe_customer.id
    customer.stripe_subscription_id = "sub_" + username
    customer.save(update_fields=["stripe_customer_id", "stripe_subscription_id"])
    return customer


def as_customer(customer: Customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


def portal_requests(standin) -> list[dict]:
    return [r for r in standin.requests if r["path"] == "/v1/billing_portal/sessions"]


def test_service_key_opens_the_portal_for_the_customers_stripe_customer(api, standin, settings):
    settings.PORTAL_RETURN_ORIGINS = ["https://dash.example"]
    alice = paying("alice")

    response = api.post(
        URL, {"user_id": "alice", "return_url": "https://dash.example/billing"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert set(response.json()) == {"url"}
    url = response.json()["url"]
    assert url.startswith(f"{standin.url}/p/session/bps_")
    [call] = portal_requests(standin)
    assert call["params"] == {
        "customer": alice.stripe_customer_id,
        "return_url": "https://dash.example/billing",
    }
    assert call["stripe_version"] == settings.STRIPE_API_VERSION


def test_a_return_url_off_the_allowed_origins_is_refused(api, standin, settings):
    """Stripe's portal would send the customer there: no open redirect through it."""
    settings.PORTAL_RETURN_ORIGINS = ["https://dash.example"]
    paying("alice")
    response = api.post(
        URL, {"user_id": "alice", "return_url": "https://evil.example/x"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "return_url" in str(response.json())
    assert portal_requests(standin) == []


def test_the_return_url_defaults_to_the_usage_page(api, standin):
    paying("alice")
    assert api.post(URL, {"user_id": "alice"}, format="json").status_code == 201
    [call] = portal_requests(standin)
    assert call["params"]["return_url"] == settings.SITE_URL.rstrip("/") + "/account/usage/"


def test_a_signed_in_customer_opens_its_own_portal_only(standin):
    alice = paying("alice")
    bob = paying("bob")
    client = as_customer(alice)

    own = client.post(URL, {}, format="json")
    named = client.post(URL, {"user_id": "alice"}, format="json")
    other = client.post(URL, {"user_id": "bob"}, format="json")

    assert (own.status_code, named.status_code) == (201, 201)
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"
    customers = {call["params"]["customer"] for call in portal_requests(standin)}
    assert customers == {alice.stripe_customer_id}
    assert bob.stripe_customer_id not in customers


def test_a_customer_who_never_paid_gets_409_no_stripe_customer(api, standin):
    customer_with_login("free", username="carol")
    # Started a Checkout once (Stripe has a customer) but never paid: nothing to manage.
    dave = customer_with_login("free", username="dave")
    dave.stripe_customer_id = stripe.Customer.create(**OPTIONS).id
    dave.save(update_fields=["stripe_customer_id"])

    for user_id in ("carol", "dave"):
        response = api.post(URL, {"user_id": user_id}, format="json")
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "no_stripe_customer"
    own = as_customer(Customer.objects.get(external_id="carol")).post(URL, {}, format="json")
    assert (own.status_code, own.json()["code"]) == (409, "no_stripe_customer")
    assert portal_requests(standin) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": "alice", "return_url": "javascript:alert(1)"}, "return_url"),
        ({"user_id": "alice", "return_url": "ftp://files.example/x"}, "return_url"),
        ({"user_id": "alice", "return_url": "not a url"}, "return_url"),
        ({"user_id": "alice", "return_url": "https://x.example/" + "a" * 2000}, "return_url"),
        ({"user_id": ["alice"]}, "user_id"),
    ],
)
def test_bad_input_is_a_400_and_reaches_no_stripe(api, standin, body, field):
    paying("alice")
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert portal_requests(standin) == []


def test_a_nul_in_the_body_is_a_400(api, standin):
    paying("alice")
    body = '{"user_id": "alice", "return_url": "https://x.example/\\u0000"}'
    response = api.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "parse_error")
    assert portal_requests(standin) == []


def test_unknown_user_id_is_404(api, standin):
    response = api.post(URL, {"user_id": "nobody"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not Customer.objects.filter(external_id="nobody").exists()


def test_without_credentials_it_is_refused(anon, standin):
    paying("alice")
    response = anon.post(URL, {"user_id": "alice"}, format="json")
    assert response.status_code in (401, 403)
    assert portal_requests(standin) == []


def test_stripe_down_is_503_stripe_unavailable(api, standin):
    paying("alice")
    standin.fail_next(1, 500)
    response = api.post(URL, {"user_id": "alice"}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "stripe_unavailable"


def test_the_endpoint_is_in_the_openapi_schema(api):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/billing/portal"]["post"]
    assert {"201", "400", "404", "409", "503"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
    assert set(fields) == {"user_id", "return_url"}


PORTAL_BODY = st.one_of(
    ANY_JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "user_id": st.one_of(st.just("alice"), HOSTILE_TEXT),
            "return_url": st.one_of(
                HOSTILE_TEXT, st.just("https://ok.example/back"), st.text().map("https://".__add__)
            ),
        },
    ),
)


@PROPERTY
@given(body=PORTAL_BODY)
def test_any_json_at_the_portal_gets_a_json_answer_never_a_500(api, standin, body):
    if not Customer.objects.filter(external_id="alice").exists():
        paying("alice")
    response = raw_post(api, URL, json.dumps(body))
    assert_json_refusal_or_success(response)
    if response.status_code == 201:
        assert response.json()["url"].startswith(f"{standin.url}/p/session/bps_")
