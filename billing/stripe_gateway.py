"""The one module of ours that calls Stripe's API (dj-stripe makes the other calls).

Rules every function here keeps:
* never inside an open database transaction: a Stripe call can take seconds and cannot be
  rolled back, so callers call Stripe first and then write atomically (or record the call in
  an outbox and queue a task, which makes it). `_stripe_call` refuses to run inside
  `transaction.atomic`.
* at most `STRIPE_CALLS_PER_SECOND` calls a second, counted in the shared cache (so across
  workers when it is Redis): below Stripe's own limits (about 25/s in test mode, 100/s live).
* every Stripe error (unreachable, timeout, rate limit, refused request) becomes
  `billing.errors.StripeUnavailable`, which the API answers with 503 `stripe_unavailable`.
* idempotency keys come from our own rows, so a retried request cannot create twice.
* the API key and API version come from settings (`STRIPE_SECRET_KEY`, `STRIPE_API_VERSION`).
  `STRIPE_API_BASE` (development and tests only; refused with a live key) points every call,
  ours and dj-stripe's, at the local stand-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.errors import StripePriceChanged, StripeUnavailable

logger = logging.getLogger(__name__)


def stripe_configure() -> None:
    """Point stripe-python (and so dj-stripe) at `STRIPE_API_BASE` when it is set."""
    if settings.STRIPE_API_BASE:
        stripe.api_base = settings.STRIPE_API_BASE.rstrip("/")


def _options(**extra) -> dict:
    return {
        "api_key": settings.STRIPE_SECRET_KEY,
        "stripe_version": settings.STRIPE_API_VERSION,
        **extra,
    }


def _in_transaction() -> bool:
    # A test's own wrapping transaction does not count; any atomic block opened by code does.
    return any(not block._from_testcase for block in connection.atomic_blocks)


def _pace() -> None:
    """Wait for a free slot in this second's budget of Stripe calls (shared cache). A cache
    that cannot be reached does not stop calls: it only stops the pacing."""
    limit = settings.STRIPE_CALLS_PER_SECOND
    if not limit:
        return
    while True:
        second = int(time.time())
        key = f"stripe:calls:{second}"
        try:
            cache.add(key, 0, timeout=5)
            calls = cache.incr(key)
        except ValueError:  # expired between add and incr: count again
            continue
        except Exception:
            logger.warning("stripe call pacing skipped: the cache cannot be reached")
            return
        if calls <= limit:
            return
        time.sleep(max(0.0, second + 1 - time.time()))


def is_permanent(exc: Exception) -> bool:
    """Whether Stripe refused for good (a 400 or 404: `No such subscription`, a bad price):
    sending the same request again can never work. Network errors, 429 and 5xx are worth
    retrying; so is 401/403 (a key staff can fix)."""
    cause = exc.__cause__ if isinstance(exc, StripeUnavailable) else exc
    return isinstance(cause, stripe.InvalidRequestError) and cause.http_status in (400, 404)


@contextmanager
def _stripe_call(action: str) -> Iterator[None]:
    if _in_transaction():
        raise RuntimeError(
            f"Stripe call ({action}) inside a database transaction: call Stripe first and "
            "then write atomically, or defer the call with transaction.on_commit."
        )
    if not settings.STRIPE_SECRET_KEY:
        raise StripeUnavailable(
            "Stripe is not configured on this server (STRIPE_SECRET_KEY is empty)."
        )
    _pace()
    try:
        yield
    except stripe.StripeError as exc:
        logger.warning(
            "stripe call failed",
            extra={
                "action": action,
                "error": type(exc).__name__,
                "http_status": exc.http_status,
                "stripe_code": exc.code,
                "request_id": exc.request_id,
            },
        )
        raise StripeUnavailable(
            f"Stripe could not {action} ({type(exc).__name__}"
            f"{': ' + exc.user_message if exc.user_message else ''}). Try again in a moment."
        ) from exc


# --- customers ------------------------------------------------------------------------------


def customer_create(*, customer) -> str:
    """Create the Stripe Customer for one of our customers; returns its `cus_…` id.

    The metadata links it back: dj-stripe's subscriber key (our primary key) so that its
    synced Customer row points at ours, and the external `user_id` for people reading the
    Stripe dashboard. Keyed on our row id: a retry returns the same Stripe customer.
    """
    metadata = {
        "djstripe_subscriber": str(customer.pk),
        "user_id": customer.external_id,
    }
    with _stripe_call("create the customer"):
        created = stripe.Customer.create(
            email=customer.email or None,
            metadata=metadata,
            **_options(idempotency_key=_customer_create_key(customer)),
        )
    return created.id


def _customer_create_key(customer) -> str:
    # The row's creation time joins its id so that a database rebuilt within Stripe's 24 h
    # idempotency window (staging) cannot collide with the customers of the old one.
    return f"billing-customer-{customer.pk}-{int(customer.created_at.timestamp())}-create"


# --- checkout -------------------------------------------------------------------------------


def checkout_session_create(
    *,
    stripe_customer_id: str,
    price_id: str,
    client_reference_id: str,
    metadata: dict,
    success_url: str,
    cancel_url: str,
) -> stripe.checkout.Session:
    """A hosted Checkout Session in subscription mode for one price, for an existing customer."""
    with _stripe_call("start a Checkout session"):
        return stripe.checkout.Session.create(
            mode="subscription",
            customer=stripe_customer_id,
            line_items=[{"price": price_id, "quantity": 1}],
            client_reference_id=client_reference_id,
            metadata=metadata,
            subscription_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
            **_options(),
        )


def checkout_sessions_expire_open(*, stripe_customer_id: str) -> int:
    """Expire the customer's open Checkout Sessions (an earlier tab, a double click), so that
    only the one about to be made can start a subscription. Returns how many; a session
    completed or expired meanwhile is left as it is."""
    with _stripe_call("list the customer's open Checkout sessions"):
        found = stripe.checkout.Session.list(
            customer=stripe_customer_id, status="open", limit=100, **_options()
        )
        sessions = list(found.auto_paging_iter())
    expired = 0
    for session in sessions:
        with _stripe_call("expire an earlier Checkout session"):
            try:
                stripe.checkout.Session.expire(session.id, **_options())
            except stripe.InvalidRequestError:
                continue  # completed (or expired) since it was listed
        expired += 1
    return expired


# --- billing portal -------------------------------------------------------------------------


def billing_portal_session_create(
    *, stripe_customer_id: str, return_url: str
) -> stripe.billing_portal.Session:
    """A session of Stripe's hosted billing portal (card, invoices, cancellation) for one
    Stripe customer; its `url` is valid for a few minutes and for that customer only."""
    with _stripe_call("open the billing portal"):
        return stripe.billing_portal.Session.create(
            customer=stripe_customer_id, return_url=return_url, **_options()
        )


# --- subscriptions --------------------------------------------------------------------------


def subscription_change_price(
    *,
    subscription_id: str,
    price_id: str,
    proration_behavior: str = "none",
    idempotency_key: str | None = None,
    expected_price_id: str | None = None,
) -> stripe.Subscription:
    """Move a subscription's (single) item to another price; returns the updated subscription.

    With the default `proration_behavior="none"` nothing is charged or credited now: the
    current period stays paid at the old price and the next invoice bills the new one. The
    change is immediate at Stripe, so the `customer.subscription.updated` webhook moves the
    customer's plan to the one mapped to `price_id` at once; call this when the plan changes.
    Already on that price: nothing is sent. Pass an `idempotency_key` made from the row that
    decided the change (e.g. `f"plan-change-{change.pk}"`); never reuse one for another change.
    With `expected_price_id`, a subscription found on neither that price nor `price_id`
    (changed since by someone else) is left alone: `StripePriceChanged`.
    The result is also synced into dj-stripe's tables.
    """
    from djstripe.models import Subscription

    with _stripe_call("read the subscription"):
        current = stripe.Subscription.retrieve(subscription_id, **_options())
    items = current["items"]["data"]
    if len(items) != 1:
        raise StripeUnavailable(
            f"Subscription {subscription_id} has {len(items)} items; expected exactly one."
        )
    current_price = items[0]["price"]["id"]
    if expected_price_id and current_price not in (expected_price_id, price_id):
        raise StripePriceChanged(
            f"Subscription {subscription_id} is on price {current_price} now, not "
            f"{expected_price_id}: changed since at Stripe, left as it is."
        )
    if current_price == price_id:
        updated = current
    else:
        options = _options(idempotency_key=idempotency_key) if idempotency_key else _options()
        with _stripe_call("change the subscription's price"):
            updated = stripe.Subscription.modify(
                subscription_id,
                items=[{"id": items[0]["id"], "price": price_id}],
                proration_behavior=proration_behavior,
                **options,
            )
    with _stripe_call("sync the subscription"):
        Subscription.sync_from_stripe_data(updated, api_key=settings.STRIPE_SECRET_KEY)
    return updated


def subscription_cancel(*, subscription_id: str, idempotency_key: str) -> stripe.Subscription:
    """Cancel a subscription now (nothing more is billed); one already ended is left as it
    is. Synced into dj-stripe; its `customer.subscription.deleted` webhook follows."""
    from djstripe.models import Subscription

    with _stripe_call("read the subscription"):
        current = stripe.Subscription.retrieve(subscription_id, **_options())
    if current["status"] in ("canceled", "incomplete_expired"):
        return current
    with _stripe_call("cancel the subscription"):
        canceled = stripe.Subscription.cancel(
            subscription_id, **_options(idempotency_key=idempotency_key)
        )
    with _stripe_call("sync the subscription"):
        Subscription.sync_from_stripe_data(canceled, api_key=settings.STRIPE_SECRET_KEY)
    return canceled


def subscription_cancel_at_period_end(
    *, subscription_id: str, at_period_end: bool, idempotency_key: str
) -> stripe.Subscription:
    """Set a live subscription to end at its period's end (True) or to renew again (False).
    Already so, or already ended: nothing is sent."""
    from djstripe.models import Subscription

    with _stripe_call("read the subscription"):
        current = stripe.Subscription.retrieve(subscription_id, **_options())
    if current["status"] in ("canceled", "incomplete_expired") or bool(
        current.get("cancel_at_period_end")
    ) == bool(at_period_end):
        return current
    with _stripe_call("change the subscription's renewal"):
        updated = stripe.Subscription.modify(
            subscription_id,
            cancel_at_period_end=at_period_end,
            **_options(idempotency_key=idempotency_key),
        )
    with _stripe_call("sync the subscription"):
        Subscription.sync_from_stripe_data(updated, api_key=settings.STRIPE_SECRET_KEY)
    return updated


def subscription_change_preview(
    *, stripe_customer_id: str, subscription_id: str, price_id: str, proration_date: int
) -> stripe.Invoice:
    """Stripe's preview of the invoice after moving the subscription to `price_id` now,
    prorated (`Invoice.create_preview`): nothing is changed or billed."""
    with _stripe_call("read the subscription"):
        current = stripe.Subscription.retrieve(subscription_id, **_options())
    item = current["items"]["data"][0]["id"]
    with _stripe_call("preview the invoice"):
        return stripe.Invoice.create_preview(
            customer=stripe_customer_id,
            subscription=subscription_id,
            subscription_details={
                "items": [{"id": item, "price": price_id}],
                "proration_behavior": "create_prorations",
                "proration_date": proration_date,
            },
            **_options(),
        )


def subscriptions_sync(*, stripe_customer_id: str) -> int:
    """Read every subscription of a Stripe customer from Stripe and sync it into dj-stripe's
    tables (what reconciliation compares with). Returns how many."""
    from djstripe.models import Subscription

    with _stripe_call("list the customer's subscriptions"):
        found = stripe.Subscription.list(customer=stripe_customer_id, status="all", **_options())
        subscriptions = list(found.auto_paging_iter())
    with _stripe_call("sync the subscriptions"):
        for subscription in subscriptions:
            Subscription.sync_from_stripe_data(subscription, api_key=settings.STRIPE_SECRET_KEY)
    return len(subscriptions)


# --- products and prices (stripe_setup_products) --------------------------------------------


def product_get(*, product_id: str) -> stripe.Product | None:
    """The product with that id, or None when Stripe has none."""
    with _stripe_call("read the product"):
        try:
            return stripe.Product.retrieve(product_id, **_options())
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return None
            raise


def product_create(*, product_id: str, name: str, metadata: dict) -> stripe.Product:
    """A product with our own fixed id: Stripe refuses a second product with the same id."""
    with _stripe_call("create the product"):
        return stripe.Product.create(
            id=product_id,
            name=name,
            metadata=metadata,
            **_options(),
        )


def product_update(*, product_id: str, **fields) -> stripe.Product:
    with _stripe_call("update the product"):
        return stripe.Product.modify(product_id, **fields, **_options())


def price_find(*, lookup_key: str) -> stripe.Price | None:
    """The active price holding `lookup_key`, or None."""
    with _stripe_call("look up the price"):
        found = stripe.Price.list(lookup_keys=[lookup_key], active=True, limit=1, **_options())
    return found.data[0] if found.data else None


def price_create(
    *,
    product_id: str,
    unit_amount: int,
    currency: str,
    interval: str,
    lookup_key: str,
    metadata: dict,
    idempotency_key: str,
) -> stripe.Price:
    """A recurring price; takes `lookup_key` over from any older price holding it."""
    with _stripe_call("create the price"):
        return stripe.Price.create(
            product=product_id,
            unit_amount=unit_amount,
            currency=currency,
            recurring={"interval": interval},
            lookup_key=lookup_key,
            transfer_lookup_key=True,
            metadata=metadata,
            **_options(idempotency_key=idempotency_key),
        )


def price_archive(*, price_id: str) -> stripe.Price:
    with _stripe_call("archive the price"):
        return stripe.Price.modify(price_id, active=False, **_options())


def catalogue_sync(*, product: stripe.Product, price: stripe.Price) -> None:
    """Copy a product and its price into dj-stripe's tables (dj-stripe may call Stripe)."""
    from djstripe.models import Price, Product

    with _stripe_call("sync the product and price"):
        Product.sync_from_stripe_data(product, api_key=settings.STRIPE_SECRET_KEY)
        Price.sync_from_stripe_data(price, api_key=settings.STRIPE_SECRET_KEY)
