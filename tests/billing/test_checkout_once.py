"""One Checkout at a time per customer (`checkout_session_create`): a second one (another tab,
a double click, the back button before the webhook) expires the first, and a Checkout paid
whose webhook has not arrived yet refuses another; a customer never pays for two
subscriptions."""

from __future__ import annotations

import pytest
import requests
import stripe

from accounts.models import Customer
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS, Helpers, checkout, deliver_new, stripe_products

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = ("active", "trialing", "past_due", "unpaid")


def live_subscriptions(user_id: str) -> list:
    stripe_customer = Customer.objects.get(external_id=user_id).stripe_customer_id
    found = stripe.Subscription.list(customer=stripe_customer, status="all", **OPTIONS)
    return [s for s in found.data if s["status"] in LIVE]


@pytest.mark.parametrize("plans", [("starter", "growth"), ("starter", "starter")])
def test_a_second_checkout_expires_the_first(api, held_standin, plans):
    customer_with_login("free", username="alice", email="alice@example.com")
    stripe_products()
    mark = held_standin.event_count()
    first = checkout(api, plans[0], "alice")
    second = checkout(api, plans[1], "alice")

    paid_late = requests.post(
        f"{held_standin.url}/_standin/checkout/sessions/{first['sessionId']}/complete", timeout=60
    )
    assert paid_late.status_code == 400  # expired: its page can no longer take a payment
    Helpers(held_standin).complete(second["sessionId"])
    deliver_new(held_standin, since=mark)

    assert len(live_subscriptions("alice")) == 1
    assert Customer.objects.get(external_id="alice").plan.code == plans[1]


def test_a_checkout_paid_before_its_webhook_refuses_another(api, held_standin):
    customer_with_login("free", username="dora", email="dora@example.com")
    stripe_products()
    first = checkout(api, "starter", "dora")
    Helpers(held_standin).complete(first["sessionId"])  # paid; the webhook is held

    response = api.post("/billing/checkout", {"plan": "growth", "user_id": "dora"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "subscription_exists"
    assert "a second Checkout would bill you twice" in response.json()["detail"]
    assert len(live_subscriptions("dora")) == 1


def test_a_checkout_being_started_refuses_a_second_at_the_same_moment(api, held_standin):
    from django.core.cache import cache

    erin = customer_with_login("free", username="erin", email="erin@example.com")
    stripe_products()
    cache.add(f"checkout:{erin.pk}", 1, timeout=30)  # the first request, still at Stripe

    response = api.post("/billing/checkout", {"plan": "starter", "user_id": "erin"}, format="json")

    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert "A Checkout is already being started for you" in response.json()["detail"]
    cache.delete(f"checkout:{erin.pk}")
    assert checkout(api, "starter", "erin")["sessionId"].startswith("cs_")
