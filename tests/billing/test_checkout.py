"""`POST /billing/checkout` and the checkout service, against the stand-in."""

from __future__ import annotations

import pytest
import stripe
from django.conf import settings
from django.db import transaction
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Session as StripeSession
from rest_framework.test import APIClient

from accounts.models import Customer, PlanChange
from billing.services.checkout import checkout_session_create
from tests.accounts.factories import UserFactory, plan
from tests.support.stripe import OPTIONS, stripe_products

pytestmark = pytest.mark.django_db
URL = "/billing/checkout"


def sessions_at_stripe() -> list:
    return list(stripe.checkout.Session.list(limit=100, **OPTIONS).auto_paging_iter())


def snapshot() -> tuple:
    """Every row a checkout could write."""
    return (
        list(Customer.objects.order_by("pk").values()),
        PlanChange.objects.count(),
        StripeCustomer.objects.count(),
        StripeSession.objects.count(),
    )


def test_service_key_starts_a_subscription_checkout_for_the_plans_price(api, standin):
    stripe_products()
    response = api.post(
        URL, {"plan": "starter", "user_id": "alice", "email": "alice@example.com"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"checkoutUrl", "sessionId"}
    session = stripe.checkout.Session.retrieve(body["sessionId"], expand=["line_items"], **OPTIONS)
    assert body["checkoutUrl"] == session.url
    alice = Customer.objects.get(external_id="alice")
    assert alice.plan.code == "free"  # provisioned; the plan changes on Stripe's webhooks
    assert alice.email == "alice@example.com"
    assert session.mode == "subscription"
    assert session.customer == alice.stripe_customer_id != ""
    assert session.client_reference_id == str(alice.pk)
    assert session.line_items.data[0].price.id == plan("starter").stripe_price_id
    assert session.metadata.to_dict() == {"user_id": "alice", "plan": "starter"}
    site = settings.SITE_URL.rstrip("/")
    assert session.success_url == (
        f"{site}/billing/success/?plan=starter&session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert session.cancel_url == f"{site}/billing/cancel/"
    stripe_customer = stripe.Customer.retrieve(alice.stripe_customer_id, **OPTIONS)
    assert stripe_customer.email == "alice@example.com"
    assert stripe_customer.metadata.to_dict() == {
        "djstripe_subscriber": str(alice.pk),
        "user_id": "alice",
    }


def test_a_second_checkout_reuses_the_stripe_customer(api, standin, customer_on):
    stripe_products()
    customer_on("free", external_id="bob")
    for chosen in ("starter", "growth"):
        response = api.post(URL, {"plan": chosen, "user_id": "bob"}, format="json")
        assert response.status_code == 201, response.content
    bob = Customer.objects.get(external_id="bob")
    assert [s.customer for s in sessions_at_stripe()] == [bob.stripe_customer_id] * 2
    assert len(stripe.Customer.list(**OPTIONS).data) == 1
    creates = [r for r in standin.requests if (r["method"], r["path"]) == ("POST", "/v1/customers")]
    assert len(creates) == 1


def test_a_signed_in_customer_checks_out_for_itself_only(standin, customer_on):
    stripe_products()
    user = UserFactory(username="carol-login")
    carol = customer_on("free", external_id="carol", user=user, email="")
    client = APIClient()
    client.force_login(user)
    response = client.post(URL, {"plan": "growth", "email": "carol@example.com"}, format="json")
    assert response.status_code == 201, response.content
    carol.refresh_from_db()
    assert carol.email == "carol@example.com"
    assert stripe.Customer.retrieve(carol.stripe_customer_id, **OPTIONS).email == carol.email
    assert stripe.checkout.Session.retrieve(
        response.json()["sessionId"], **OPTIONS
    ).client_reference_id == str(carol.pk)
    customer_on("free", external_id="dave")
    response = client.post(URL, {"plan": "growth", "user_id": "dave"}, format="json")
    assert response.status_code == 403
    assert len(sessions_at_stripe()) == 1


def test_callers_must_authenticate_and_name_the_customer(api, anon, standin):
    stripe_products()
    assert anon.post(URL, {"plan": "starter", "user_id": "x"}, format="json").status_code == 401
    response = api.post(URL, {"plan": "starter"}, format="json")
    assert response.status_code == 400
    assert "user_id" in response.json()["errors"]
    assert sessions_at_stripe() == []


@pytest.mark.parametrize("code", ["enterprise", "free", "legacy_pro", "legacy_starter"])
def test_unknown_free_or_legacy_plans_are_refused(api, standin, code):
    stripe_products()
    before = snapshot()
    response = api.post(URL, {"plan": code, "user_id": "erin"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["field"] == "plan"
    assert snapshot() == before
    assert sessions_at_stripe() == []


def test_already_on_that_plan_is_a_conflict(api, standin, customer_on):
    stripe_products()
    customer_on("starter", external_id="frank")
    before = snapshot()
    response = api.post(URL, {"plan": "starter", "user_id": "frank"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert snapshot() == before
    assert sessions_at_stripe() == []


def test_a_live_subscription_is_not_doubled_by_a_second_checkout(api, standin, customer_on):
    stripe_products()
    customer_on("starter", external_id="gina", stripe_subscription_id="sub_live", status="past_due")
    response = api.post(URL, {"plan": "growth", "user_id": "gina"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "subscription_exists"
    assert response.json()["subscription"] == "sub_live"
    assert "bill you twice" in response.json()["detail"]
    # Once that subscription has ended, a new Checkout is fine.
    customer_on("free", external_id="hank", stripe_subscription_id="sub_old", status="canceled")
    response = api.post(URL, {"plan": "growth", "user_id": "hank"}, format="json")
    assert response.status_code == 201


def test_stripe_down_is_503_and_writes_nothing(api, customer_on):
    customer_on("free", external_id="ivy")
    plan_row = plan("starter")
    plan_row.stripe_price_id = "price_configured"
    plan_row.save()
    before = snapshot()
    # No stand-in: stripe.api_base points at a closed port.
    response = api.post(URL, {"plan": "starter", "user_id": "ivy"}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "stripe_unavailable"
    assert snapshot() == before


def test_stripe_refusing_is_503_and_writes_nothing(api, standin, customer_on):
    customer_on("free", external_id="jack")
    plan_row = plan("starter")
    plan_row.stripe_price_id = "price_that_stripe_does_not_know"
    plan_row.save()
    before = snapshot()
    response = api.post(URL, {"plan": "starter", "user_id": "jack"}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "stripe_unavailable"
    after = snapshot()
    # Only the Stripe customer id was saved (Stripe made the customer before refusing the
    # price); a retry reuses it.
    assert after[1:] == before[1:]
    jack = Customer.objects.get(external_id="jack")
    assert jack.stripe_customer_id.startswith("cus_")
    assert sessions_at_stripe() == []


def test_no_price_configured_is_503(api, standin, customer_on):
    customer_on("free", external_id="kim")
    response = api.post(URL, {"plan": "growth", "user_id": "kim"}, format="json")
    assert response.status_code == 503
    assert "stripe_setup_products" in response.json()["detail"]
    assert stripe.Customer.list(**OPTIONS).data == []


def test_environment_prices_win_over_the_plan_rows(api, standin, customer_on, settings):
    stripe_products()
    special = stripe.Price.create(
        product="ai_gate_sessions_growth",
        unit_amount=9900,
        currency="usd",
        recurring={"interval": "month"},
        **OPTIONS,
    )
    settings.STRIPE_PRICE_GROWTH = special.id
    customer_on("free", external_id="lee")
    response = api.post(URL, {"plan": "growth", "user_id": "lee"}, format="json")
    assert response.status_code == 201
    session = stripe.checkout.Session.retrieve(
        response.json()["sessionId"], expand=["line_items"], **OPTIONS
    )
    assert session.line_items.data[0].price.id == special.id


def test_service_returns_url_and_id_with_the_callers_urls(standin, customer_on):
    stripe_products()
    mia = customer_on("free", external_id="mia")
    url, session_id = checkout_session_create(
        customer=mia,
        plan=plan("growth"),
        success_url="https://portal.test/account/usage/?paid={CHECKOUT_SESSION_ID}",
        cancel_url="https://portal.test/pricing/",
    )
    session = stripe.checkout.Session.retrieve(session_id, **OPTIONS)
    assert (session.url, session.success_url, session.cancel_url) == (
        url,
        "https://portal.test/account/usage/?paid={CHECKOUT_SESSION_ID}",
        "https://portal.test/pricing/",
    )


def test_stripe_is_never_called_inside_a_transaction(standin, customer_on):
    stripe_products()
    nina = customer_on("free", external_id="nina")
    with pytest.raises(RuntimeError, match="inside a database transaction"), transaction.atomic():
        checkout_session_create(
            customer=nina, plan=plan("starter"), success_url="https://x.test/", cancel_url=""
        )
    assert stripe.Customer.list(**OPTIONS).data == []


def test_stripe_down_for_an_unknown_user_provisions_nobody(api):
    plan_row = plan("starter")
    plan_row.stripe_price_id = "price_configured"
    plan_row.save()
    before = snapshot()
    response = api.post(
        URL, {"plan": "starter", "user_id": "newcomer", "email": "n@example.com"}, format="json"
    )
    assert response.status_code == 503
    assert snapshot() == before
    assert not Customer.objects.filter(external_id="newcomer").exists()


def test_stripe_down_leaves_a_customers_missing_email_unwritten(api, customer_on):
    customer_on("free", external_id="lea", email="")
    plan_row = plan("starter")
    plan_row.stripe_price_id = "price_configured"
    plan_row.save()
    response = api.post(
        URL, {"plan": "starter", "user_id": "lea", "email": "lea@example.com"}, format="json"
    )
    assert response.status_code == 503
    assert Customer.objects.get(external_id="lea").email == ""


def test_a_checkout_that_succeeds_keeps_the_new_customer_and_its_email(api, standin):
    stripe_products()
    response = api.post(
        URL, {"plan": "starter", "user_id": "newcomer", "email": "n@example.com"}, format="json"
    )
    assert response.status_code == 201
    newcomer = Customer.objects.get(external_id="newcomer")
    assert (newcomer.email, newcomer.plan.code) == ("n@example.com", "free")
    assert newcomer.stripe_customer_id.startswith("cus_")
