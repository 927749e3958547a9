"""Stripe may deliver an event twice, late, or before an older one: the outcome is the same.

The stand-in holds its events here; each test delivers them itself (each delivery freshly
signed and POSTed by the stand-in to the live server, as Stripe's retries are).
"""

from __future__ import annotations

import random

import pytest
import stripe
from django.core import mail
from djstripe.models import Event, WebhookEventTrigger

from accounts.models import Customer, EmailNotification
from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS
from tests.support.stripe import OPTIONS, Helpers, checkout, history, stripe_products

pytestmark = pytest.mark.django_db(transaction=True)
# The audit trail of the in-order flow (tests/billing/test_subscription_lifecycle.py).
IN_ORDER_HISTORY = [
    (None, "free", "active"),
    ("free", "starter", "active"),
    ("starter", "starter", "past_due"),
    ("starter", "starter", "active"),
    ("starter", "starter", "canceled"),
    ("starter", "free", "canceled"),
]


class Delivery:
    def __init__(self, standin):
        self.standin = standin
        self.mark = standin.event_count()
        self.sent: list[dict] = []

    def new_events(self) -> list[dict]:
        """Events created since the last call, of the types our endpoint receives."""
        events = self.standin.events(self.mark)
        self.mark += len(events)
        return [e for e in events if e["type"] in WEBHOOK_EVENTS]

    def send(self, events: list[dict]) -> None:
        for event in events:
            outcome = self.standin.deliver(event["id"])
            assert outcome.status == 200, (event["type"], outcome.body)


def state(user_id: str) -> tuple[str, str]:
    customer = Customer.objects.select_related("plan").get(external_id=user_id)
    return customer.plan.code, customer.status


@pytest.mark.parametrize("seed", [1, 2])
def test_every_event_three_times_in_shuffled_order(api, held_standin, seed):
    """At each step, the step's events go three times each, shuffled among a re-delivery
    of every earlier event: the state after each step and the audit trail and e-mails at the
    end are those of the in-order flow."""
    stripe_products()
    shuffle = random.Random(seed).shuffle
    helpers = Helpers(held_standin)
    delivery = Delivery(held_standin)
    body = checkout(api, "starter", "alice", "alice@example.com")
    steps = [
        (lambda: helpers.complete(body["sessionId"]), ("starter", "active")),
        (lambda: helpers.fail_payment(alice_subscription()), ("starter", "past_due")),
        (lambda: helpers.renew(alice_subscription()), ("starter", "active")),
        (
            lambda: stripe.Subscription.cancel(alice_subscription(), **OPTIONS),
            ("free", "canceled"),
        ),
    ]
    for action, expected in steps:
        action()
        new = delivery.new_events()
        assert new, "each step emits events"
        batch = new * 3 + delivery.sent
        shuffle(batch)
        delivery.send(batch)
        delivery.sent += new
        assert state("alice") == expected

    alice = Customer.objects.get(external_id="alice")
    assert history(alice) == IN_ORDER_HISTORY
    assert len(mail.outbox) == 1
    assert EmailNotification.objects.filter(customer=alice, kind="payment_failed").count() == 1
    assert Event.objects.count() == len(delivery.sent)
    assert WebhookEventTrigger.objects.filter(processed=True).count() > 3 * len(delivery.sent)


def alice_subscription() -> str:
    return Customer.objects.get(external_id="alice").stripe_subscription_id


def test_events_arriving_only_after_everything_happened(api, held_standin):
    """Delivered late and shuffled, the events give the final state: each re-fetch from
    Stripe shows the canceled subscription, the customer stays free, one audit row records
    the cancellation, and nobody is dunned for a subscription that has already ended."""
    stripe_products()
    helpers = Helpers(held_standin)
    delivery = Delivery(held_standin)
    body = checkout(api, "starter", "alice", "alice@example.com")
    subscription = helpers.complete(body["sessionId"])["subscription"]
    helpers.fail_payment(subscription)
    helpers.renew(subscription)
    stripe.Subscription.cancel(subscription, **OPTIONS)
    events = delivery.new_events() * 3
    random.Random(7).shuffle(events)
    delivery.send(events)
    assert state("alice") == ("free", "canceled")
    assert history(Customer.objects.get(external_id="alice")) == [
        (None, "free", "active"),
        ("free", "free", "canceled"),
    ]
    assert mail.outbox == []


def test_a_late_event_of_a_replaced_subscription_changes_nothing(api, held_standin):
    """Alice cancels starter and subscribes to growth; the old subscription's events arrive
    after the new one's: she stays on growth."""
    stripe_products()
    helpers = Helpers(held_standin)
    delivery = Delivery(held_standin)
    started = checkout(api, "starter", "alice", "alice@example.com")
    old = helpers.complete(started["sessionId"])["subscription"]
    delivery.send(delivery.new_events())
    assert state("alice") == ("starter", "active")

    stripe.Subscription.cancel(old, **OPTIONS)
    late = delivery.new_events()  # held back
    # A Checkout for growth started before the cancellation, completed after it.
    alice = Customer.objects.select_related("plan").get(external_id="alice")
    second = stripe.checkout.Session.create(
        mode="subscription",
        customer=alice.stripe_customer_id,
        client_reference_id=str(alice.pk),
        line_items=[{"price": alice.plan.__class__.objects.get(code="growth").stripe_price_id}],
        success_url="https://portal.test/ok",
        **OPTIONS,
    )
    new = helpers.complete(second.id)["subscription"]
    delivery.send(delivery.new_events())
    assert state("alice") == ("growth", "active")
    rows = len(history(Customer.objects.get(external_id="alice")))

    delivery.send(late)
    assert state("alice") == ("growth", "active")
    alice = Customer.objects.get(external_id="alice")
    assert alice.stripe_subscription_id == new
    assert len(history(alice)) == rows
