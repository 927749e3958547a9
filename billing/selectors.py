"""Reads of dj-stripe's mirror of Stripe for the customers' pages and the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import Customer

INVOICES_SHOWN = 12
LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid")


@dataclass(frozen=True)
class InvoiceRow:
    invoice_id: str
    number: str
    created: datetime
    total_cents: int
    currency: str
    status: str  # Stripe's: open, paid, void, uncollectible
    hosted_url: str


def customer_invoices(*, customer: Customer, limit: int = INVOICES_SHOWN) -> list[InvoiceRow]:
    """The customer's newest finalized invoices, from the mirror that the webhooks keep (drafts
    are left out, as Stripe's portal does). Only its own Stripe customer's: none without one."""
    if not customer.stripe_customer_id:
        return []
    rows = (
        StripeInvoice.objects.filter(customer_id=customer.stripe_customer_id)
        .exclude(stripe_data__status="draft")
        .order_by("-created", "-djstripe_id")
        .only("id", "created", "stripe_data")[:limit]
    )
    return [_invoice_row(row) for row in rows]


def _invoice_row(row: StripeInvoice) -> InvoiceRow:
    data = row.stripe_data
    created = row.created or datetime.fromtimestamp(data.get("created") or 0, UTC)
    return InvoiceRow(
        invoice_id=row.id,
        number=data.get("number") or row.id,
        created=created,
        total_cents=int(data.get("total") or 0),
        currency=data.get("currency") or "usd",
        status=data.get("status") or "",
        hosted_url=data.get("hosted_invoice_url") or "",
    )


# --- For the admin: the subscription, and addresses in Stripe's dashboard -------------------

DASHBOARD = "https://dashboard.stripe.com/"


def stripe_dashboard_url(kind: str, object_id: str) -> str:
    """The object's page in Stripe's dashboard ("invoices", "subscriptions", "customers"):
    test-mode objects live under /test/, and the key decides the mode."""
    return f"{DASHBOARD}{'' if settings.STRIPE_LIVE_MODE else 'test/'}{kind}/{object_id}"


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    status: str
    price_ids: tuple[str, ...]
    period_end: datetime | None  # read from the items (API 2025-03-31.basil moved it there)
    cancel_at_period_end: bool
    cancel_at: datetime | None


def customer_subscription(*, customer: Customer) -> SubscriptionView | None:
    """The customer's subscription as dj-stripe last synced it (None when not mirrored): the
    one read of the mirror's subscription that the pages and the admin derive from."""
    if not customer.stripe_subscription_id:
        return None
    row = StripeSubscription.objects.filter(id=customer.stripe_subscription_id).first()
    if row is None:
        return None
    data = row.stripe_data or {}
    items = (data.get("items") or {}).get("data") or []
    ends = [item["current_period_end"] for item in items if item.get("current_period_end")]
    cancel_at = data.get("cancel_at")
    return SubscriptionView(
        id=row.id,
        status=data.get("status", ""),
        price_ids=tuple((item.get("price") or {}).get("id", "") for item in items),
        period_end=datetime.fromtimestamp(min(ends), UTC) if ends else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        cancel_at=datetime.fromtimestamp(cancel_at, UTC) if cancel_at else None,
    )


def subscription_cancels_at(*, customer: Customer) -> datetime | None:
    """When the customer's live subscription ends because it was canceled at the period's end
    (in Stripe's billing portal, say); None when it is not set to cancel."""
    view = customer_subscription(customer=customer)
    if view is None or view.status not in LIVE_STATUSES or not view.cancel_at_period_end:
        return None
    return view.cancel_at


def subscription_period_end(customer: Customer) -> datetime | None:
    """The end of the period the customer has paid for through its live subscription, or None
    without one."""
    view = customer_subscription(customer=customer) if customer.has_live_subscription else None
    return view.period_end if view else None
