"""Reads of a customer's Stripe side, from dj-stripe's mirror (no call to Stripe): its
subscription and its invoices, each with the address of its page in Stripe's dashboard.

dj-stripe 2.11 keeps Stripe's object in `stripe_data`, and several of its helpers read fields
that API version 2025-03-31.basil removed: the period end is read from the subscription's
items, an invoice's subscription from `parent` (shared/notes/djstripe-2.11.md, §1.5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import Customer

DASHBOARD = "https://dashboard.stripe.com/"
INVOICES_SHOWN = 12


def stripe_dashboard_url(kind: str, object_id: str, *, livemode: bool | None = None) -> str:
    """`kind` is the dashboard's path ("invoices", "subscriptions", "customers"); test-mode
    objects live under /test/."""
    live = settings.STRIPE_LIVE_MODE if livemode is None else livemode
    return f"{DASHBOARD}{'' if live else 'test/'}{kind}/{object_id}"


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    status: str
    price_ids: tuple[str, ...]
    period_end: datetime | None
    cancel_at_period_end: bool
    dashboard_url: str


@dataclass(frozen=True)
class InvoiceView:
    id: str
    number: str
    created: datetime | None
    status: str
    total_cents: int
    currency: str
    dashboard_url: str


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def customer_subscription(customer: Customer) -> SubscriptionView | None:
    """The customer's subscription as dj-stripe last synced it (None when not mirrored)."""
    if not customer.stripe_subscription_id:
        return None
    row = StripeSubscription.objects.filter(id=customer.stripe_subscription_id).first()
    if row is None:
        return None
    data = row.stripe_data or {}
    items = (data.get("items") or {}).get("data") or []
    ends = [item.get("current_period_end") for item in items if item.get("current_period_end")]
    return SubscriptionView(
        id=row.id,
        status=data.get("status", ""),
        price_ids=tuple((item.get("price") or {}).get("id", "") for item in items),
        period_end=_when(max(ends)) if ends else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        dashboard_url=stripe_dashboard_url("subscriptions", row.id, livemode=row.livemode),
    )


def customer_invoices(customer: Customer, *, limit: int = INVOICES_SHOWN) -> list[InvoiceView]:
    """The customer's newest invoices in dj-stripe's mirror, newest first."""
    if not customer.stripe_customer_id:
        return []
    rows = StripeInvoice.objects.filter(customer_id=customer.stripe_customer_id).order_by(
        "-created", "-djstripe_id"
    )[:limit]
    invoices = []
    for row in rows:
        data = row.stripe_data or {}
        invoices.append(
            InvoiceView(
                id=row.id,
                number=data.get("number") or "",
                created=row.created or _when(data.get("created")),
                status=data.get("status") or "",
                total_cents=int(data.get("total") or data.get("amount_due") or 0),
                currency=data.get("currency") or "usd",
                dashboard_url=stripe_dashboard_url("invoices", row.id, livemode=row.livemode),
            )
        )
    return invoices
