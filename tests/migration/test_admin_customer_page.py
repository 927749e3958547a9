"""A customer's admin page (`migration/admin/customer_page.py`): this month's usage, the last
12 months, the subscription and its invoices linked to Stripe's dashboard, the e-mails sent and
the plan history in words; nothing of another customer's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import ChangeSource, EmailKind, EmailStatus
from accounts.periods import period_of
from accounts.services.plan_change import customer_change_plan
from billing.selectors import stripe_dashboard_url
from devtools.stripe_standin import objects
from tests.accounts.factories import CustomerFactory, EmailNotificationFactory, plan
from tests.support.pages import NOW, set_month_usage, text
from tests.usage.factories import MonthlyUsageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]
PERIOD_END = int((NOW + timedelta(days=15)).timestamp())


def mirrored_subscription(sub_id: str, customer_id: str, *, livemode: bool = False) -> None:
    """A subscription as dj-stripe mirrors it (Stripe's object in `stripe_data`)."""
    created = int((NOW - timedelta(days=15)).timestamp())
    price = objects.price(
        price_id="price_growth_monthly",
        created=created,
        product_id="prod_growth",
        unit_amount=9900,
        currency="usd",
        recurring=objects.recurring(interval="month"),
        lookup_key=None,
        nickname=None,
        metadata={},
    )
    data = objects.subscription(
        subscription_id=sub_id,
        created=created,
        customer_id=customer_id,
        currency="usd",
        metadata={},
    )
    data["status"] = "active"
    data["items"]["data"].append(
        objects.subscription_item(
            item_id=f"si_{sub_id}",
            created=created,
            subscription_id=sub_id,
            price_obj=price,
            quantity=1,
            period=(created, PERIOD_END),
        )
    )
    StripeSubscription.objects.create(
        id=sub_id, customer_id=customer_id, livemode=livemode, stripe_data=data
    )


def mirrored_invoice(invoice_id: str, customer_id: str, *, number: str, days_ago: int) -> None:
    created = NOW - timedelta(days=days_ago)
    StripeInvoice.objects.create(
        id=invoice_id,
        customer_id=customer_id,
        livemode=False,
        created=created,
        stripe_data={
            "id": invoice_id,
            "object": "invoice",
            "number": number,
            "status": "paid",
            "total": 9900,
            "currency": "usd",
            "created": int(created.timestamp()),
        },
    )


def page_of(staff_client, customer) -> str:
    response = staff_client.get(f"/admin/accounts/customer/{customer.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def alice_with_every_section():
    """alice, moved from Starter to Growth, with this month's usage, a Stripe subscription,
    an invoice and an e-mail: something in each section of her page."""
    alice = CustomerFactory(
        plan=plan("starter"),
        external_id="alice",
        stripe_customer_id="cus_Alice",
        stripe_subscription_id="sub_Alice",
    )
    customer_change_plan(
        customer=alice,
        plan=plan("growth"),
        source=ChangeSource.ADMIN,
        actor="alice",
        reason="goodwill",
    )
    set_month_usage(alice, sessions=4_300, failed=12, minutes="8600")
    StripeCustomer.objects.create(id="cus_Alice", livemode=False, subscriber=alice)
    mirrored_subscription("sub_Alice", "cus_Alice")
    mirrored_invoice("in_Alice2", "cus_Alice", number="AG-0002", days_ago=2)
    EmailNotificationFactory(
        customer=alice, kind=EmailKind.USAGE_80, status=EmailStatus.SENT, sent_at=NOW
    )
    return alice


def test_the_page_shows_usage_subscription_invoices_emails_and_history(staff_client):
    alice = alice_with_every_section()
    MonthlyUsageFactory(
        customer=alice,
        period=period_of(NOW).previous().start,
        total_sessions=1_250,
        successful_sessions=1_250,
        failed_sessions=0,
        total_minutes=Decimal(2500),
        billable_minutes=Decimal(2500),
    )
    mirrored_invoice("in_Alice1", "cus_Alice", number="AG-0001", days_ago=33)
    bob = CustomerFactory(plan=plan("starter"), external_id="bob", stripe_customer_id="cus_Bob")
    StripeCustomer.objects.create(id="cus_Bob", livemode=False, subscriber=bob)
    mirrored_invoice("in_Bob", "cus_Bob", number="AG-BOB", days_ago=1)
    EmailNotificationFactory(customer=bob, kind=EmailKind.PAYMENT_FAILED, to_email="b@bob.test")

    html = page_of(staff_client, alice)
    page = text(html)

    assert "4,300 / 20,000 sessions (21%)" in page
    assert "4,312 sessions started, 12 failed; 8,600 minutes used" in page
    assert "Nov 2026 4,300 / 20,000 sessions 21%" in page
    assert "Oct 2026 1,250 / 5,000 sessions 25%" in page  # Starter was the plan then
    assert page.count(" 2025 ") + page.count(" 2026 ") >= 12
    assert "active · Growth · price_growth_monthly renews 3 Dec 2026" in page
    assert 'href="https://dashboard.stripe.com/test/subscriptions/sub_Alice"' in html
    assert "AG-0002 16 Nov 2026 $99.00 paid" in page
    assert "AG-0001 16 Oct 2026 $99.00 paid" in page
    assert 'href="https://dashboard.stripe.com/test/invoices/in_Alice2"' in html
    assert "Usage at 80% Sent alice@example.com" in page
    assert "Starter → Growth · by alice · 18 Nov 2026 · goodwill (Admin)" in page
    # Nothing of bob's.
    assert "AG-BOB" not in page and "in_Bob" not in html and "b@bob.test" not in page


def test_the_key_decides_between_the_test_and_the_live_dashboard(settings):
    assert (
        stripe_dashboard_url("invoices", "in_1")
        == "https://dashboard.stripe.com/test/invoices/in_1"
    )
    settings.STRIPE_LIVE_MODE = True
    assert stripe_dashboard_url("invoices", "in_1") == "https://dashboard.stripe.com/invoices/in_1"


def test_a_customer_without_stripe_or_usage_reads_plainly(staff_client):
    walk_in = CustomerFactory(plan=plan("free"), external_id="walk-in")
    walk_in.projects.create(project_id="default")

    html = page_of(staff_client, walk_in)
    page = text(html)

    assert "0 / 100 sessions (0%)" in page
    assert "No Stripe subscription." in page and "No invoices." in page
    assert "No e-mails." in page and "No changes." in page
    # Its project reads as its id, not as "<customer pk>/default" above it.
    assert 'value="default"' in html and f"{walk_in.pk}/default" not in page


def test_the_add_form_has_no_sections(staff_client):
    response = staff_client.get("/admin/accounts/customer/add/")
    assert response.status_code == 200
    assert "The last 12 months" not in response.content.decode()


def test_each_section_reads_the_database_once(staff_client):
    # unfold's template reads a read-only field's value up to three times: each read ran the
    # section's queries again (39 queries for this page, 11 now).
    alice = alice_with_every_section()

    with CaptureQueriesContext(connection) as queries:
        page_of(staff_client, alice)

    def reads(table: str) -> int:
        return sum(f'FROM "{table}"' in query["sql"] for query in queries.captured_queries)

    assert reads("djstripe_subscription") == 1
    assert reads("djstripe_invoice") == 1
    assert reads("billing_emailnotification") == 1
    assert reads("usage_monthlyusage") == 3  # the row's annotations, this month, 12 months
    assert reads("billing_planchange") == 2  # the months' plans, then the history
    assert len(queries.captured_queries) <= 12
