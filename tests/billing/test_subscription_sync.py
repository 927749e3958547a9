"""The rules that keep a customer in step with Stripe, on dj-stripe rows made directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import EmailNotification, PlanChange
from billing.services.subscriptions import (
    UnknownStripePrice,
    customer_for_stripe,
    payment_failed_notify,
    subscription_state_apply,
)
from devtools.stripe_standin import objects
from tests.accounts.factories import plan

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def stripe_subscription(sub_id: str, *, status: str, price_id: str, created: int = 1_790_000_000):
    price = objects.price(
        price_id=price_id,
        created=created,
        product_id="prod_x",
        unit_amount=2900,
        currency="usd",
        recurring=objects.recurring(interval="month"),
        lookup_key=None,
        nickname=None,
        metadata={},
    )
    data = objects.subscription(
        subscription_id=sub_id, created=created, customer_id="cus_1", currency="usd", metadata={}
    )
    data["status"] = status
    data["items"]["data"].append(
        objects.subscription_item(
            item_id="si_" + sub_id,
            created=created,
            subscription_id=sub_id,
            price_obj=price,
            quantity=1,
            period=(created, created + 30 * 86400),
        )
    )
    return StripeSubscription.objects.update_or_create(
        id=sub_id,
        defaults={"customer_id": "cus_1", "livemode": False, "stripe_data": data},
    )[0]


@pytest.fixture
def linked(customer_on):
    """A free customer whose Stripe customer cus_1 is synced and linked to it."""
    customer = customer_on("free", external_id="alice", stripe_customer_id="cus_1")
    StripeCustomer.objects.create(id="cus_1", livemode=False, subscriber=customer)
    starter = plan("starter")
    starter.stripe_price_id = "price_starter"
    starter.save()
    legacy = plan("legacy_pro")
    legacy.stripe_price_id = "price_legacy_pro"
    legacy.save()
    return customer


def apply(customer, event_at=T0, event_type="customer.subscription.updated"):
    return subscription_state_apply(
        customer=customer,
        stripe_customer_id="cus_1",
        event_id="evt_test",
        event_type=event_type,
        event_at=event_at,
    )


def current(customer):
    customer.refresh_from_db()
    return customer.plan.code, customer.status


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("active", ("starter", "active")),
        ("trialing", ("starter", "active")),
        ("past_due", ("starter", "past_due")),
        ("unpaid", ("starter", "past_due")),
        ("canceled", ("free", "canceled")),
        ("incomplete_expired", ("free", "canceled")),
    ],
)
def test_status_and_plan_follow_the_subscription(linked, stripe_status, expected):
    stripe_subscription("sub_1", status=stripe_status, price_id="price_starter")
    apply(linked)
    assert current(linked) == expected
    assert linked.stripe_subscription_id == "sub_1"


def test_an_incomplete_subscription_changes_nothing_yet(linked):
    stripe_subscription("sub_1", status="incomplete", price_id="price_starter")
    assert apply(linked) == []
    assert current(linked) == ("free", "active")


def test_one_audit_row_per_real_change(linked):
    stripe_subscription("sub_1", status="active", price_id="price_starter")
    rows = apply(linked)
    assert [(r.from_plan.code, r.to_plan.code) for r in rows] == [("free", "starter")]
    assert rows[0].source == "webhook"
    assert rows[0].stripe_event_id == "evt_test"
    assert apply(linked, T0 + timedelta(seconds=1)) == []
    stripe_subscription("sub_1", status="canceled", price_id="price_starter")
    rows = apply(linked, T0 + timedelta(seconds=2))
    assert [(r.from_plan.code, r.to_plan.code, r.state_after["status"]) for r in rows] == [
        ("starter", "starter", "canceled"),
        ("starter", "free", "canceled"),
    ]
    assert PlanChange.objects.filter(customer=linked).count() == 3


def test_an_older_subscription_event_never_undoes_a_newer_state(linked):
    stripe_subscription("sub_1", status="active", price_id="price_starter")
    apply(linked, T0)
    # A delivery whose data is older (fetched before, committed after the newer one).
    stripe_subscription("sub_1", status="past_due", price_id="price_starter")
    assert apply(linked, T0 - timedelta(seconds=5)) == []
    assert current(linked) == ("starter", "active")
    linked.refresh_from_db()
    assert linked.stripe_state_at == T0
    # An invoice event does not order the state: it applies the synced rows as they are.
    apply(linked, None, "invoice.payment_failed")
    assert current(linked) == ("starter", "past_due")
    assert linked.stripe_state_at == T0
    # A newer subscription event applies and moves the mark.
    stripe_subscription("sub_1", status="active", price_id="price_starter")
    apply(linked, T0 + timedelta(seconds=5))
    assert current(linked) == ("starter", "active")
    assert linked.stripe_state_at == T0 + timedelta(seconds=5)


def test_the_newest_live_subscription_governs(linked):
    stripe_subscription("sub_new", status="active", price_id="price_starter", created=2000)
    stripe_subscription("sub_newer_ended", status="canceled", price_id="price_x", created=3000)
    stripe_subscription("sub_old", status="active", price_id="price_legacy_pro", created=1000)
    apply(linked)
    assert current(linked) == ("starter", "active")
    assert linked.stripe_subscription_id == "sub_new"


def test_a_legacy_price_keeps_the_legacy_plan(customer_on, linked):
    linked.plan = plan("legacy_pro")
    linked.save()
    stripe_subscription("sub_1", status="active", price_id="price_legacy_pro")
    assert apply(linked) == []
    assert current(linked) == ("legacy_pro", "active")


def test_an_unknown_price_raises_and_writes_nothing(linked):
    stripe_subscription("sub_1", status="active", price_id="price_nobody_uses")
    with pytest.raises(UnknownStripePrice, match="price_nobody_uses"):
        apply(linked)
    assert current(linked) == ("free", "active")
    assert not PlanChange.objects.filter(customer=linked).exists()


def test_an_unlinked_price_keeps_a_legacy_customer_on_its_plan_and_applies_the_status(linked):
    linked.plan = plan("legacy_build")
    linked.save()
    stripe_subscription("sub_1", status="past_due", price_id="price_old_system_build")
    apply(linked)
    assert current(linked) == ("legacy_build", "past_due")


def test_customers_are_found_by_stripe_id_subscriber_or_checkout_reference(customer_on):
    ours = customer_on("free", external_id="bea", stripe_customer_id="cus_bea")
    assert customer_for_stripe(stripe_customer_id="cus_bea") == ours
    linked = customer_on("free", external_id="cy")
    StripeCustomer.objects.create(id="cus_cy", livemode=False, subscriber=linked)
    assert customer_for_stripe(stripe_customer_id="cus_cy") == linked
    linked.refresh_from_db()
    assert linked.stripe_customer_id == "cus_cy"
    referenced = customer_on("free", external_id="di")
    found = customer_for_stripe(stripe_customer_id="cus_di", client_reference_id=str(referenced.pk))
    assert found == referenced
    # A reference to a customer that already has another Stripe customer is not trusted.
    assert customer_for_stripe(stripe_customer_id="cus_x", client_reference_id=str(ours.pk)) is None
    assert customer_for_stripe(stripe_customer_id="cus_unknown") is None


def stripe_invoice(invoice_id: str, *, status: str, subscription: str = "sub_1"):
    customer = objects.customer(
        customer_id="cus_1",
        created=1,
        email="alice@example.com",
        name=None,
        description=None,
        phone=None,
        metadata={},
    )
    sub = StripeSubscription.objects.get(id=subscription).stripe_data
    data = objects.invoice(
        invoice_id=invoice_id,
        created=1_790_000_000,
        cust=customer,
        sub=sub,
        lines=[],
        billing_reason="subscription_cycle",
        number="ABC-0002",
        hosted_url="https://invoice.test/" + invoice_id,
        period=(1, 2),
    )
    data.update({"status": status, "amount_due": 2900, "next_payment_attempt": 1_790_259_200})
    return StripeInvoice.objects.create(
        id=invoice_id, customer_id="cus_1", livemode=False, stripe_data=data
    )


def test_a_failed_payment_mails_once_per_unpaid_invoice(linked, django_capture_on_commit_callbacks):
    stripe_subscription("sub_1", status="past_due", price_id="price_starter")
    stripe_invoice("in_open", status="open")
    stripe_invoice("in_paid", status="paid")
    with django_capture_on_commit_callbacks(execute=True):
        payment_failed_notify(customer=linked, invoice_id="in_open")
        payment_failed_notify(customer=linked, invoice_id="in_open")
        payment_failed_notify(customer=linked, invoice_id="in_paid")
        payment_failed_notify(customer=linked, invoice_id="in_missing")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Your AI-Gate payment of $29.00 failed"
    assert "https://invoice.test/in_open" in message.body
    assert "ABC-0002" in message.body
    assert "https://invoice.test/in_open" in message.alternatives[0][0]
    assert EmailNotification.objects.get().dedupe_key == "in_open"


def test_no_mail_for_a_subscription_that_has_ended(linked, django_capture_on_commit_callbacks):
    stripe_subscription("sub_1", status="canceled", price_id="price_starter")
    stripe_invoice("in_open", status="open")
    with django_capture_on_commit_callbacks(execute=True):
        payment_failed_notify(customer=linked, invoice_id="in_open")
    assert mail.outbox == []
