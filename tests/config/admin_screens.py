"""The admin's screens, filled the way a working day leaves them: customers on every plan (some
grandfathered, one with a long address), a plan history, a planned batch, service keys, the
e-mail outbox, Stripe price moves, webhook deliveries, queued tasks and a background job.

Shared by the browser tests of every admin screen (`test_browser_admin.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from accounts.jobs import job_start
from accounts.models import (
    BackgroundJob,
    BatchKind,
    ChangeSource,
    Customer,
    EmailKind,
    EmailStatus,
    MigrationBatch,
)
from accounts.services.plan_change import customer_change_plan
from api.service_keys import service_key_create, service_key_revoke
from billing.models import PriceMoveStatus, StripePriceMove
from billing.services.reconcile import reconcile_with_stripe
from billing.services.stripe_price_moves import idempotency_key
from migration.batches.apply import migration_batch_create
from migration.batches.selection import CustomerSelection
from migration.jobs import LEGACY_IMPORT
from tests.accounts.factories import CustomerFactory, EmailNotificationFactory, plan
from tests.support.pages import add_sessions, set_month_usage


@dataclass
class AdminDay:
    customer: Customer  # the one with a plan history, e-mails and usage
    batch: MigrationBatch
    job: BackgroundJob


def delivery(event_type: str, stripe_customer: str, *, error: str = "") -> None:
    body = {
        "id": f"evt_{event_type}_{stripe_customer}",
        "object": "event",
        "type": event_type,
        "data": {"object": {"object": "subscription", "customer": stripe_customer}},
    }
    WebhookEventTrigger.objects.create(
        remote_ip="127.0.0.1",
        headers={},
        body=json.dumps(body),
        valid=True,
        processed=not error,
        exception=error,
    )


def admin_day(staff) -> AdminDay:
    """Rows on every admin screen; `staff` is the login that started the job."""
    now = timezone.now()
    alice = CustomerFactory(
        plan=plan("legacy_pro"),
        external_id="northwind-logistics-production-eu",
        email="procurement.team+billing@northwind-logistics.example.com",
        stripe_customer_id="cus_QxNorthwind0001",
        stripe_subscription_id="sub_1QxNorthwindProd0001",
    )
    for code, count in (
        ("free", 3),
        ("starter", 3),
        ("growth", 2),
        ("legacy_build", 2),
        ("legacy_agency", 2),
    ):
        for n in range(count):
            CustomerFactory(
                plan=plan(code),
                external_id=f"{code}-customer-{n:02d}",
                email=f"owner.{code}.{n}@customers.example.org",
            )
    for n, customer in enumerate(Customer.objects.filter(plan__is_legacy=True)[:3]):
        Customer.objects.filter(pk=customer.pk).update(
            grandfathered_until=now + timedelta(days=20 + 7 * n),
            grandfather_plan=customer.plan.migrates_to,
        )
    add_sessions(alice, {1: 4, 2: 7, 3: 2})
    for customer in Customer.objects.filter(plan__code="starter")[:2]:
        set_month_usage(customer, sessions=4_300, minutes="8600")

    customer_change_plan(
        customer=alice,
        plan=plan("legacy_agency"),
        source=ChangeSource.ADMIN,
        actor="admin:alice",
        reason="goodwill after the October outage",
    )
    change = customer_change_plan(
        customer=alice,
        plan=plan("legacy_pro"),
        source=ChangeSource.ADMIN,
        actor="admin:alice",
        reason="back to the plan they pay for",
    )
    batch = migration_batch_create(
        kind=BatchKind.GRANDFATHER,
        selection=CustomerSelection(plan_codes=("legacy_build", "legacy_agency")),
        grandfather_months=3,
        reason="Q1 move of the build and agency plans",
        actor="admin:alice",
    )
    job = job_start(
        kind=LEGACY_IMPORT,
        batch=None,
        actor="admin:staff",
        created_by=staff,
        options={"name": "customers-export-2026-11.csv", "file_kind": "customers"},
        payload=b"user_id,email,plan\n",
    )

    _, _ = service_key_create(name="proxy-eu-west-1 (production)")
    revoked, _ = service_key_create(name="dashboard-staging")
    service_key_revoke(key=revoked)

    EmailNotificationFactory(
        customer=alice, kind=EmailKind.MIGRATION_NOTICE, status=EmailStatus.SENT, sent_at=now
    )
    EmailNotificationFactory(
        customer=alice,
        kind=EmailKind.USAGE_80,
        status=EmailStatus.FAILED,
        attempts=5,
        error="SMTPRecipientsRefused: {'procurement.team+billing@northwind-logistics.example."
        "com': (550, b'5.1.1 mailbox unavailable')}",
    )
    # The plan change recorded its move to Stripe; it failed three times.
    StripePriceMove.objects.update_or_create(
        plan_change=change,
        defaults={
            "subscription_id": "sub_1QxNorthwindProd0001",
            "idempotency_key": idempotency_key(change.pk),
            "from_price_id": "price_1QxLegacyAgencyMonthly",
            "to_price_id": "price_1QxLegacyProMonthly",
            "status": PriceMoveStatus.FAILED,
            "attempts": 3,
            "last_error": "Request req_8f3a: No such price: 'price_1QxLegacyProMonthly'",
        },
    )
    delivery("customer.subscription.updated", "cus_QxNorthwind0001")
    delivery(
        "invoice.payment_failed",
        "cus_QxNorthwind0001",
        error="No such price: 'price_unknown'; set the plan's Stripe price id",
    )
    reconcile_with_stripe.enqueue()
    return AdminDay(customer=alice, batch=batch, job=job)
