"""The whole subscription life, end to end: API → stand-in → signed webhooks → our customer."""

from __future__ import annotations

import pytest
from django.core import mail
from djstripe.models import Event, Subscription, WebhookEventTrigger

from accounts.models import ChangeSource, Customer, EmailNotification, PlanChange
from tests.support.stripe import Helpers, checkout, history, stripe_products

pytestmark = pytest.mark.django_db(transaction=True)


def usage(api, user_id: str) -> dict:
    response = api.get("/billing/usage", {"user_id": user_id})
    assert response.status_code == 200, response.content
    return response.json()


def test_checkout_payment_failure_renewal_and_cancellation(api, live_standin):
    stripe_products()
    helpers = Helpers(live_standin)

    body = checkout(api, "starter", "alice", "alice@example.com")
    assert body["checkoutUrl"].startswith(live_standin.url + "/c/pay/")
    assert usage(api, "alice")["plan"] == "free"  # nothing changes before Stripe says so

    session = helpers.complete(body["sessionId"])
    assert session["status"] == "complete"
    assert session["subscription"].startswith("sub_")
    view = usage(api, "alice")
    assert (view["plan"], view["sessionsIncluded"], view["status"]) == ("starter", 5000, "active")
    alice = Customer.objects.get(external_id="alice")
    assert alice.stripe_subscription_id == session["subscription"]
    assert alice.stripe_customer_id == session["customer"]

    helpers.fail_payment(session["subscription"])
    view = usage(api, "alice")
    assert (view["plan"], view["status"]) == ("starter", "past_due")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "$29.00" in mail.outbox[0].subject
    notification = EmailNotification.objects.get(customer=alice)
    assert notification.kind == "payment_failed"
    assert notification.sent_at is not None

    helpers.renew(session["subscription"])
    view = usage(api, "alice")
    assert (view["plan"], view["status"]) == ("starter", "active")

    helpers.cancel(session["subscription"])
    view = usage(api, "alice")
    assert (view["plan"], view["sessionsIncluded"], view["status"]) == ("free", 100, "canceled")

    assert len(mail.outbox) == 1
    assert history(alice) == [
        (None, "free", "active"),  # provisioned by the checkout call
        ("free", "starter", "active"),
        ("starter", "starter", "past_due"),
        ("starter", "starter", "active"),
        ("starter", "starter", "canceled"),
        ("starter", "free", "canceled"),
    ]
    webhook_rows = PlanChange.objects.filter(customer=alice, source=ChangeSource.WEBHOOK)
    assert all(row.stripe_event_id.startswith("evt_") for row in webhook_rows)
    assert Subscription.objects.get(id=session["subscription"]).stripe_data["status"] == "canceled"
    # Every delivery was valid and processed; each Stripe event stored once.
    triggers = WebhookEventTrigger.objects.all()
    assert triggers.count() == Event.objects.count() > 0
    assert all(t.valid and t.processed for t in triggers)
