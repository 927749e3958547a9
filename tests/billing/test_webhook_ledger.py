"""The ledger of Stripe deliveries in the admin, and its replay action (issue 12, point 6): a
replay runs the handler again, idempotently; only staff allowed to change deliveries get it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from djstripe.models import WebhookEventTrigger

from accounts.models import Customer, PlanChange
from tests.accounts.factories import UserFactory
from tests.billing.test_reconcile import moved_at_stripe_only
from tests.support.stripe import subscribed

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/admin/djstripe/webhookeventtrigger/"


def last_subscription_delivery(stripe_customer_id: str) -> WebhookEventTrigger:
    for trigger in WebhookEventTrigger.objects.filter(processed=True).order_by("-created"):
        body = json.loads(trigger.body)
        obj = body["data"]["object"]
        if body["type"].startswith("customer.subscription.") and obj["customer"] == (
            stripe_customer_id
        ):
            return trigger
    raise AssertionError("no subscription event delivered")


def replay(client: Client, trigger: WebhookEventTrigger):
    return client.post(URL, {"action": "replay", "_selected_action": [trigger.pk]}, follow=True)


def test_the_ledger_names_each_delivery_and_its_customer(api, held_standin, staff_client):
    subscribed(api, held_standin, "alice")
    response = staff_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode().replace("<wbr>", "")  # event types may break at dots
    assert "customer.subscription.created" in page
    assert "checkout.session.completed" in page
    assert ">alice<" in page


def test_replay_applies_stripe_again_and_a_second_replay_changes_nothing(
    api, held_standin, staff_client
):
    subscription = subscribed(api, held_standin, "alice")
    alice = Customer.objects.get(external_id="alice")
    trigger = last_subscription_delivery(alice.stripe_customer_id)
    moved_at_stripe_only(subscription, "growth")  # its webhook is lost (held)

    response = replay(staff_client, trigger)

    assert "1 delivery(ies) queued to be replayed." in response.content.decode()
    assert Customer.objects.get(external_id="alice").plan.code == "growth"
    rows = PlanChange.objects.count()
    replay(staff_client, trigger)
    assert PlanChange.objects.count() == rows
    assert Customer.objects.get(external_id="alice").plan.code == "growth"


def test_replay_needs_the_permission_to_change_deliveries(api, held_standin, client):
    subscribed(api, held_standin, "alice")
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(
            codename="view_webhookeventtrigger", content_type__app_label="djstripe"
        )
    )
    client.force_login(viewer)
    page = client.get(URL).content.decode()
    assert "alice" in page
    assert 'value="replay"' not in page
    trigger = WebhookEventTrigger.objects.filter(processed=True).first()
    replay(client, trigger)
    assert Customer.objects.get(external_id="alice").plan.code == "starter"
