"""Driving the Stripe stand-in from tests: products, Checkout, held webhooks, what Stripe holds.

The stand-in fixtures themselves (`standin`, `live_standin`, `held_standin`) are in
`tests/fixtures/stripe_standin.py`.
"""

from __future__ import annotations

import requests
import stripe
from django.conf import settings
from django.core.management import call_command

from accounts.models import Customer, PlanChange
from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS
from devtools.stripe_standin import StripeStandin
from tests.accounts.factories import plan

OPTIONS = {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}


def stripe_products() -> None:
    """Products and prices in the stand-in, plans linked to them (the real command)."""
    call_command("stripe_setup_products", "--output", "/dev/null", stdout=_Quiet())


class _Quiet:
    def write(self, *args, **kwargs):
        pass

    def flush(self):
        pass


class Helpers:
    """The stand-in's test helpers, over HTTP like any client."""

    def __init__(self, standin: StripeStandin):
        self.standin = standin

    def post(self, path: str, **data) -> dict:
        response = requests.post(self.standin.url + path, data=data, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def complete(self, session_id: str) -> dict:
        return self.post(f"/_standin/checkout/sessions/{session_id}/complete")

    def fail_payment(self, subscription_id: str) -> dict:
        return self.post(f"/_standin/subscriptions/{subscription_id}/fail_payment")

    def renew(self, subscription_id: str) -> dict:
        return self.post(f"/_standin/subscriptions/{subscription_id}/renew")

    def cancel(self, subscription_id: str) -> dict:
        """Stripe's own `DELETE /v1/subscriptions/<id>` (as the dashboard does)."""
        canceled = stripe.Subscription.cancel(
            subscription_id,
            api_key=settings.STRIPE_SECRET_KEY,
            stripe_version=settings.STRIPE_API_VERSION,
        )
        assert self.standin.wait_for_webhooks(60)
        return canceled


def checkout(api, plan: str, user_id: str, email: str = "") -> dict:
    """`POST /billing/checkout` with the service key: the Checkout session's url and id."""
    response = api.post(
        "/billing/checkout", {"plan": plan, "user_id": user_id, "email": email}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def deliver_new(standin, since: int) -> list[str]:
    """Deliver the held events (of the types our endpoint receives) created since `since`."""
    sent = []
    for event in standin.events(since):
        if event["type"] in WEBHOOK_EVENTS:
            assert standin.deliver(event["id"]).status == 200
            sent.append(event["type"])
    return sent


def subscribed(api, standin, user_id: str, plan_code: str = "starter") -> str:
    """`user_id` pays for `plan_code` through Checkout; every event delivered. → sub id."""
    stripe_products()
    mark = standin.event_count()
    body = checkout(api, plan_code, user_id, f"{user_id}@example.com")
    subscription = Helpers(standin).complete(body["sessionId"])["subscription"]
    deliver_new(standin, since=mark)
    customer = Customer.objects.get(external_id=user_id)
    assert (customer.plan.code, customer.status) == (plan_code, "active")
    assert customer.stripe_subscription_id == subscription
    return subscription


def price_at_stripe(subscription_id: str) -> str:
    return stripe.Subscription.retrieve(subscription_id, **OPTIONS)["items"]["data"][0]["price"][
        "id"
    ]


def changes_to(subscription_id: str, standin) -> list[dict]:
    """The stand-in's log of requests that modified the subscription."""
    path = f"/v1/subscriptions/{subscription_id}"
    return [r for r in standin.requests if r["path"] == path and r["method"] == "POST"]


def history(customer: Customer) -> list[tuple]:
    """The customer's audit trail: (from plan, to plan, status after) per row, oldest first."""
    rows = PlanChange.objects.filter(customer=customer).order_by("created_at", "id")
    return [
        (row.from_plan.code if row.from_plan else None, row.to_plan.code, row.state_after["status"])
        for row in rows
    ]


def audit(customer_id: str, after: int = 0) -> list[tuple]:
    """(from plan, to plan, source, actor) of the customer's audit rows after row `after`."""
    rows = PlanChange.objects.filter(customer__external_id=customer_id, pk__gt=after)
    return [
        (row.from_plan and row.from_plan.code, row.to_plan.code, row.source, row.actor)
        for row in rows.order_by("pk")
    ]


LEGACY_PRICES = {"legacy_build": 4900, "legacy_pro": 14900}


def legacy_prices() -> dict[str, str]:
    """Stripe prices for the legacy plans (their old subscriptions' prices), linked to them."""
    product = stripe.Price.retrieve(plan("starter").stripe_price_id, **OPTIONS)["product"]
    ids = {}
    for code, cents in LEGACY_PRICES.items():
        price = stripe.Price.create(
            product=product,
            unit_amount=cents,
            currency="usd",
            recurring={"interval": "month"},
            **OPTIONS,
        )
        legacy = plan(code)
        legacy.stripe_price_id = price.id
        legacy.save(update_fields=["stripe_price_id"])
        ids[code] = price.id
    return ids


def legacy_subscriber(api, standin, user_id: str, code: str) -> str:
    """`user_id` pays for legacy plan `code` through a live subscription. → subscription id."""
    subscription = subscribed(api, standin, user_id)
    prices = {c: plan(c).stripe_price_id for c in LEGACY_PRICES}
    if not prices[code]:
        prices = legacy_prices()
    item = stripe.Subscription.retrieve(subscription, **OPTIONS)["items"]["data"][0]["id"]
    mark = standin.event_count()
    stripe.Subscription.modify(
        subscription,
        items=[{"id": item, "price": prices[code]}],
        proration_behavior="none",
        **OPTIONS,
    )
    deliver_new(standin, since=mark)
    assert Customer.objects.get(external_id=user_id).plan.code == code
    return subscription
