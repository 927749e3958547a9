"""`stripe_gateway.subscription_change_price`, used by the migration tools (issue 4)."""

from __future__ import annotations

import pytest
import stripe
from django.db import transaction
from djstripe.models import Subscription

from accounts.models import Customer
from billing.stripe_gateway import subscription_change_price
from tests.accounts.factories import plan
from tests.support.stripe import OPTIONS, Helpers, checkout, deliver_new, stripe_products


def subscribe(api, standin, user_id="alice") -> str:
    stripe_products()
    body = checkout(api, "starter", user_id, f"{user_id}@example.com")
    return Helpers(standin).complete(body["sessionId"])["subscription"]


@pytest.mark.django_db
def test_moves_the_price_from_the_next_period_without_proration(api, standin):
    subscription = subscribe(api, standin)
    before = stripe.Subscription.retrieve(subscription, **OPTIONS)
    invoices = len(stripe.Invoice.list(**OPTIONS).data)
    growth = plan("growth").stripe_price_id

    updated = subscription_change_price(
        subscription_id=subscription, price_id=growth, idempotency_key="plan-change-1"
    )
    item = updated["items"]["data"][0]
    assert item["price"]["id"] == growth
    assert item["id"] == before["items"]["data"][0]["id"]
    assert item["current_period_end"] == before["items"]["data"][0]["current_period_end"]
    assert len(stripe.Invoice.list(**OPTIONS).data) == invoices  # nothing charged now
    change = [r for r in standin.requests if r["path"] == f"/v1/subscriptions/{subscription}"]
    assert change[-1]["method"] == "POST"
    assert change[-1]["idempotency_key"] == "plan-change-1"
    synced = Subscription.objects.get(id=subscription)
    assert synced.stripe_data["items"]["data"][0]["price"]["id"] == growth
    # The next renewal bills the new price.
    renewed = Helpers(standin).renew(subscription)
    assert stripe.Invoice.retrieve(renewed["latest_invoice"], **OPTIONS).amount_due == 9900


@pytest.mark.django_db
def test_already_on_that_price_sends_nothing(api, standin):
    subscription = subscribe(api, standin)
    starter = plan("starter").stripe_price_id
    mark = len(standin.requests)
    subscription_change_price(subscription_id=subscription, price_id=starter)
    calls = [(r["method"], r["path"]) for r in list(standin.requests)[mark:]]
    assert ("GET", f"/v1/subscriptions/{subscription}") in calls
    assert [method for method, _ in calls if method != "GET"] == []


@pytest.mark.django_db
def test_refused_inside_a_transaction(api, standin):
    subscription = subscribe(api, standin)
    with pytest.raises(RuntimeError), transaction.atomic():
        subscription_change_price(
            subscription_id=subscription, price_id=plan("growth").stripe_price_id
        )


@pytest.mark.django_db(transaction=True)
def test_the_webhook_then_moves_the_customer_to_the_new_plan(api, held_standin):
    # Events are delivered once the gateway call has returned: on SQLite the live server
    # shares this thread's connection, so nothing may reach it while this thread writes.
    subscription = subscribe(api, held_standin)
    deliver_new(held_standin, since=0)
    assert Customer.objects.get(external_id="alice").plan.code == "starter"
    mark = held_standin.event_count()
    subscription_change_price(subscription_id=subscription, price_id=plan("growth").stripe_price_id)
    assert deliver_new(held_standin, since=mark) == ["customer.subscription.updated"]
    alice = Customer.objects.get(external_id="alice")
    assert (alice.plan.code, alice.status) == ("growth", "active")
