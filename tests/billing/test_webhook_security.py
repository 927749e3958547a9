"""`/webhooks/stripe` refuses what Stripe did not sign, and keeps failed events for replay."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import stripe
from django.conf import settings
from django.test import Client
from djstripe.models import Event, WebhookEventTrigger

from accounts.models import Customer, PlanChange
from billing.services.stripe_webhook_endpoint import webhook_endpoint_sync
from tests.support.stripe import Helpers, checkout, stripe_products

pytestmark = pytest.mark.django_db
SECRET = settings.STRIPE_WEBHOOK_SECRET


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


@pytest.fixture
def paid(api, standin):
    """Alice paid for starter at the stand-in; the events wait to be posted (none sent)."""
    stripe_products()
    body = checkout(api, "starter", "alice", "alice@example.com")
    Helpers(standin).complete(body["sessionId"])
    return {e["type"]: e for e in standin.events()}


def post(client, event: dict, *, secret=SECRET, timestamp=None, path="/webhooks/stripe", **extra):
    payload = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return client.post(
        path,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
        **extra,
    )


def alice() -> Customer:
    return Customer.objects.select_related("plan").get(external_id="alice")


def nothing_applied() -> None:
    assert alice().plan.code == "free"
    assert alice().stripe_subscription_id == ""
    assert not Event.objects.exists()
    assert PlanChange.objects.filter(source="webhook").count() == 0


def test_a_signed_event_is_applied(client, paid):
    response = post(client, paid["customer.subscription.created"])
    assert response.status_code == 200
    assert alice().plan.code == "starter"
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid and trigger.processed
    assert trigger.webhook_endpoint.id == settings.STRIPE_WEBHOOK_ENDPOINT_ID


def test_missing_signature_is_refused(client, paid):
    response = client.post(
        "/webhooks/stripe",
        data=json.dumps(paid["customer.subscription.created"]),
        content_type="application/json",
    )
    assert response.status_code == 400
    nothing_applied()


def test_a_wrong_secret_is_refused_and_recorded(client, paid):
    response = post(client, paid["customer.subscription.created"], secret="whsec_not_ours")
    assert response.status_code == 400
    nothing_applied()
    trigger = WebhookEventTrigger.objects.get()
    assert not trigger.valid and not trigger.processed


def test_a_tampered_body_is_refused(client, paid):
    event = paid["customer.subscription.created"]
    payload = json.dumps(event)
    signature = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
    tampered = payload.replace(event["data"]["object"]["customer"], "cus_someone_else")
    response = client.post(
        "/webhooks/stripe",
        data=tampered,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
    assert response.status_code == 400
    nothing_applied()


def test_a_timestamp_outside_the_tolerance_is_refused(client, paid):
    stale = int(time.time()) - 301  # dj-stripe's tolerance: 300 seconds
    response = post(client, paid["customer.subscription.created"], timestamp=stale)
    assert response.status_code == 400
    nothing_applied()
    response = post(client, paid["customer.subscription.created"], timestamp=int(time.time()) - 200)
    assert response.status_code == 200  # inside the tolerance


def test_an_unknown_endpoint_is_refused(client, paid):
    response = post(
        client, paid["customer.subscription.created"], path=f"/stripe/webhook/{uuid.uuid4()}/"
    )
    assert response.status_code == 404
    assert (
        post(client, paid["checkout.session.completed"], path="/webhooks/stripe/").status_code
        == 404
    )
    nothing_applied()
    assert not WebhookEventTrigger.objects.exists()
    # dj-stripe's own route for our endpoint is the same machinery.
    endpoint, _ = webhook_endpoint_sync()
    path = f"/stripe/webhook/{endpoint.djstripe_uuid}/"
    assert post(client, paid["customer.subscription.created"], path=path).status_code == 200
    assert alice().plan.code == "starter"


def test_a_caller_cannot_choose_the_secret_even_with_debug(client, paid, settings):
    settings.DEBUG = True
    response = post(
        client,
        paid["customer.subscription.created"],
        secret="whsec_attacker",
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_attacker",
    )
    assert response.status_code == 400
    nothing_applied()


def test_a_body_that_is_not_an_event_is_refused(client, paid):
    response = post(client, {"object": "event", "type": "customer.subscription.created"})
    assert response.status_code == 400
    nothing_applied()


def test_without_a_configured_secret_nothing_is_accepted(client, paid, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post(client, paid["customer.subscription.created"])
    assert response.status_code == 503
    assert response.json()["code"] == "stripe_unavailable"
    nothing_applied()
    assert client.get("/webhooks/stripe").status_code == 405


def test_a_handler_error_is_500_and_the_event_is_kept_for_replay(api, client, standin):
    """A subscription on a price no plan uses: 500 (Stripe retries), nothing applied, the
    trigger keeps the error; once staff link the price, the retry applies it."""
    stripe_products()
    checkout(api, "starter", "olga", "olga@example.com")
    olga = Customer.objects.get(external_id="olga")
    options = {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}
    unknown = stripe.Price.create(
        product="ai_gate_sessions_growth",
        unit_amount=12300,
        currency="usd",
        recurring={"interval": "month"},
        **options,
    )
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=olga.stripe_customer_id,
        line_items=[{"price": unknown.id, "quantity": 1}],
        success_url="https://portal.test/ok",
        **options,
    )
    Helpers(standin).complete(session.id)
    event = next(e for e in standin.events() if e["type"] == "customer.subscription.created")

    response = post(client, event)
    assert response.status_code == 500
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid and not trigger.processed
    assert "no plan uses" in trigger.exception
    assert "UnknownStripePrice" in trigger.traceback
    assert not Event.objects.exists()  # rolled back with everything the delivery wrote
    olga.refresh_from_db()
    assert (olga.plan.code, olga.stripe_subscription_id) == ("free", "")

    growth = olga.plan.__class__.objects.get(code="growth")
    growth.stripe_price_id = unknown.id
    growth.save()
    assert post(client, event).status_code == 200  # Stripe's retry
    olga.refresh_from_db()
    assert olga.plan.code == "growth"
    assert Event.objects.filter(id=event["id"]).count() == 1


def test_stripe_unreachable_while_processing_is_500_and_retried_later(client, paid, standin):
    """dj-stripe re-fetches the event's object; if Stripe cannot be reached, nothing is
    applied and Stripe's retry succeeds once it can."""
    event = paid["customer.subscription.created"]
    stripe.api_base = "http://127.0.0.1:9"
    response = post(client, event)
    assert response.status_code == 500
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid and not trigger.processed and trigger.exception
    nothing_applied()
    stripe.api_base = standin.url
    assert post(client, event).status_code == 200
    assert alice().plan.code == "starter"
