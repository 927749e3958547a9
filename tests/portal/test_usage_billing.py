"""The usage page's billing card: invoices from dj-stripe's mirror (date, amount, status, a link
to Stripe's hosted invoice), "Manage billing", and "Update payment method" first for a customer
whose payment failed. Mirror rows are made directly; the flows that fill them through webhooks
are in `tests/billing/test_billing_portal_flows.py`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import Customer, CustomerStatus
from billing.selectors import customer_invoices
from devtools.stripe_standin import objects
from tests.support.pages import customer_with_login, signed_in, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]
URL = "/account/usage/"
OCT_18 = int(datetime(2026, 10, 18, 9, 0, tzinfo=UTC).timestamp())
NOV_18 = int(datetime(2026, 11, 18, 9, 0, tzinfo=UTC).timestamp())


def paying(username: str, **fields) -> Customer:
    customer = customer_with_login("starter", username=username, **fields)
    customer.stripe_customer_id = f"cus_{username}"
    customer.stripe_subscription_id = f"sub_{username}"
    customer.save(update_fields=["stripe_customer_id", "stripe_subscription_id"])
    StripeCustomer.objects.create(id=customer.stripe_customer_id, livemode=False)
    return customer


def subscription_row(customer: Customer, **changes) -> StripeSubscription:
    data = objects.subscription(
        subscription_id=customer.stripe_subscription_id,
        created=OCT_18,
        customer_id=customer.stripe_customer_id,
        currency="usd",
        metadata={},
    )
    data.update(changes)
    return StripeSubscription.objects.create(
        id=customer.stripe_subscription_id,
        customer_id=customer.stripe_customer_id,
        livemode=False,
        stripe_data=data,
    )


def invoice_row(customer: Customer, number: str, *, created: int, status: str, total=2900):
    cust = objects.customer(
        customer_id=customer.stripe_customer_id,
        created=1,
        email=None,
        name=None,
        description=None,
        phone=None,
        metadata={},
    )
    sub = {"id": customer.stripe_subscription_id, "currency": "usd", "metadata": {}}
    invoice_id = f"in_{number}"
    data = objects.invoice(
        invoice_id=invoice_id,
        created=created,
        cust=cust,
        sub=sub,
        lines=[],
        billing_reason="subscription_cycle",
        number=number,
        hosted_url=f"https://invoice.stripe.test/i/{invoice_id}",
        period=(created, created),
    )
    data.update({"status": status, "total": total, "amount_due": total})
    return StripeInvoice.objects.create(
        id=invoice_id,
        customer_id=customer.stripe_customer_id,
        livemode=False,
        created=datetime.fromtimestamp(created, UTC),
        stripe_data=data,
    )


def page(customer: Customer) -> str:
    response = signed_in(customer).get(URL)
    assert response.status_code == 200
    return response.content.decode()


def invoice_rows(html: str) -> list[str]:
    table = re.search(r'<table class="invoices".*?</table>', html, re.S)
    assert table, "no invoice table"
    return [text(row) for row in re.findall(r"<tr>.*?</tr>", table.group(0), re.S)[1:]]


def test_invoices_newest_first_with_date_amount_status_and_stripes_link():
    alice = paying("alice")
    invoice_row(alice, "AAA-0001", created=OCT_18, status="paid")
    invoice_row(alice, "AAA-0002", created=NOV_18, status="open")
    invoice_row(alice, "AAA-0003", created=NOV_18 + 60, status="draft")  # not shown

    html = page(alice)

    assert invoice_rows(html) == ["18 Nov 2026 $29.00 Unpaid View", "18 Oct 2026 $29.00 Paid View"]
    assert 'href="https://invoice.stripe.test/i/in_AAA-0002"' in html
    assert 'aria-label="Invoice AAA-0001 of 18 October 2026"' in html
    assert "Manage billing" in text(html)


def test_a_customer_sees_only_its_own_invoices():
    alice, bob = paying("alice"), paying("bob")
    invoice_row(alice, "ALICE-0001", created=OCT_18, status="paid", total=2900)
    invoice_row(bob, "BOB-0001", created=OCT_18, status="paid", total=9900)

    html = page(alice)

    assert "ALICE-0001" in html
    assert "BOB-0001" not in html and "$99.00" not in html
    assert [row.number for row in customer_invoices(customer=bob)] == ["BOB-0001"]


def test_a_customer_who_never_paid_has_no_billing_card():
    carol = customer_with_login("free", username="carol")
    html = page(carol)
    assert 'data-testid="billing"' not in html
    assert "Manage billing" not in html
    assert "billing-portal.js" not in html


def test_a_paying_customer_without_invoices_yet_can_still_manage_billing():
    html = page(paying("dave"))
    assert "No invoices yet." in text(html)
    assert 'data-billing-portal-form data-endpoint="/billing/portal"' in html
    assert "csrfmiddlewaretoken" in html
    assert "billing-portal.js" in html


def test_past_due_sees_update_payment_method_before_manage_billing():
    erin = paying("erin", status=CustomerStatus.PAST_DUE)
    invoice_row(erin, "EEE-0002", created=NOV_18, status="open")

    words = text(page(erin))

    assert "Payment overdue" in words
    update = words.index("Update payment method")
    assert update < words.index("Manage billing")
    assert update < words.index("This month's sessions")


def test_past_due_without_a_stripe_customer_keeps_the_mail_advice():
    # A past-due legacy customer imported without Stripe ids: no portal to send it to.
    fred = customer_with_login("starter", username="fred", status=CustomerStatus.PAST_DUE)
    words = text(page(fred))
    assert "Update your payment method from the link in Stripe's e-mail" in words
    assert "Update payment method" not in words


def test_a_subscription_canceled_at_the_period_end_says_when_it_ends():
    gina = paying("gina")
    period_end = int(datetime(2026, 12, 18, 9, 0, tzinfo=UTC).timestamp())
    subscription_row(gina, cancel_at_period_end=True, cancel_at=period_end)

    words = text(page(gina))

    assert (
        "Your subscription is canceled: Starter ends on 18 December 2026, then you move to Free."
        in words
    )


def test_a_live_subscription_not_set_to_cancel_says_nothing_about_an_end():
    hugo = paying("hugo")
    subscription_row(hugo)
    assert 'data-testid="cancels-at"' not in page(hugo)
