"""Keep each customer in step with its Stripe subscription, from verified webhook events.

Called by the dj-stripe receiver (`billing/webhooks.py`) inside dj-stripe's transaction, after
dj-stripe re-fetched the event's object from Stripe and synced it. So the state applied here is
never the event's payload but dj-stripe's synced rows, which hold Stripe's current state:

* the customer follows its *governing* subscription: the newest live one (active, trialing,
  past_due, unpaid), else the newest ended one. Its price decides the plan (through
  `billing.stripe_plans`), its status ours: active/trialing → active, past_due/unpaid →
  past_due, canceled/incomplete_expired → canceled on the free plan; an incomplete one
  changes nothing yet; an ended one changes nothing for a customer staff gave a complimentary
  plan since. While our newest price move of that subscription (a bulk plan change
  by staff) has not reached Stripe, the subscription's old price does not change the plan.
* a `customer.subscription.*` event (for which dj-stripe has just re-fetched the subscription)
  older than the newest one applied (`Customer.stripe_state_at`) changes nothing, so a late or
  concurrent delivery never undoes newer state. Other events apply the synced rows as they are
  without moving that mark: their subscription row is only as fresh as the last subscription
  event, whose own delivery brings any newer state. dj-stripe drops repeated event ids.
* every real change writes one audit row: a status change (with the subscription linked) one
  row, then a plan change through `customer_change_plan` another.
* a failed payment e-mails the customer once per invoice, while that invoice is still unpaid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from djstripe.models import Customer as StripeCustomer
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Session as StripeSession
from djstripe.models import Subscription as StripeSubscription

from accounts.formatting import money
from accounts.models import ChangeSource, Customer, CustomerStatus, EmailKind, Plan, PlanChange
from accounts.services.customers import DEFAULT_PLAN_CODE
from accounts.services.notifications import email_send_once
from accounts.services.plan_change import (
    customer_change_plan,
    customer_lock,
    customer_state,
    customer_status_record,
    pending_plan_drop,
    pending_plan_set,
)
from billing.selectors import LIVE_STATUSES, subscription_period_end
from billing.services.stripe_price_moves import cancellation_awaited, latest_move_awaited
from billing.stripe_plans import plan_for_price

logger = logging.getLogger(__name__)

ENDED_STATUSES = ("canceled", "incomplete_expired")
STATUS_FROM_STRIPE = {
    "active": CustomerStatus.ACTIVE,
    "trialing": CustomerStatus.ACTIVE,
    "past_due": CustomerStatus.PAST_DUE,
    "unpaid": CustomerStatus.PAST_DUE,
    "canceled": CustomerStatus.CANCELED,
    "incomplete_expired": CustomerStatus.CANCELED,
}
ACTOR = "stripe"


class UnknownStripePrice(Exception):
    """A live subscription's price maps to no plan. Raised so that the webhook answers 500:
    Stripe retries, and the event is replayed once the price is linked to a plan."""


@dataclass(frozen=True)
class SubscriptionState:
    """What Stripe says about one subscription, read from dj-stripe's synced row."""

    subscription_id: str
    status: str
    price_ids: tuple[str, ...]
    created: int
    synced_order: int  # dj-stripe's row id: breaks ties between subscriptions of one second
    cancel_at_period_end: bool = False  # set in Stripe's billing portal too, not only by us

    @classmethod
    def of(cls, row: StripeSubscription) -> SubscriptionState:
        data = row.stripe_data
        items = (data.get("items") or {}).get("data") or []
        return cls(
            subscription_id=row.id,
            status=data.get("status") or "",
            price_ids=tuple((item.get("price") or {}).get("id") or "" for item in items),
            created=data.get("created") or 0,
            synced_order=row.djstripe_id,
            cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        )


def stripe_event_apply(*, event) -> None:
    """Bring the customer named by a newly stored Stripe event in line with Stripe."""
    obj = event.data.get("object") or {}
    stripe_customer_id = stripe_customer_of(obj)
    client_reference_id = None
    if event.type == "checkout.session.completed":
        session = StripeSession.objects.filter(id=obj.get("id")).first()
        data = session.stripe_data if session is not None else obj
        if data.get("mode") != "subscription":
            return
        client_reference_id = data.get("client_reference_id")
        stripe_customer_id = _id_of(data.get("customer")) or stripe_customer_id
    if not stripe_customer_id:
        return
    customer = customer_for_stripe(
        stripe_customer_id=stripe_customer_id, client_reference_id=client_reference_id
    )
    if customer is None:
        logger.info(
            "stripe event for no customer of ours",
            extra={"event": event.id, "type": event.type, "stripe_customer": stripe_customer_id},
        )
        return
    refetched = event.type.startswith("customer.subscription.")
    subscription_state_apply(
        customer=customer,
        stripe_customer_id=stripe_customer_id,
        event_id=event.id,
        event_type=event.type,
        event_at=(event.created or datetime.now(UTC)) if refetched else None,
    )
    if event.type == "invoice.payment_failed":
        payment_failed_notify(customer=customer, invoice_id=obj.get("id") or "")


def customer_for_stripe(*, stripe_customer_id: str, client_reference_id=None) -> Customer | None:
    """Our customer for a Stripe customer: by the id we saved, dj-stripe's subscriber link, or
    the Checkout `client_reference_id` (our primary key). Links the Stripe id when missing."""
    customer = Customer.objects.filter(stripe_customer_id=stripe_customer_id).first()
    if customer is not None:
        return customer
    synced = StripeCustomer.objects.filter(id=stripe_customer_id).first()
    if synced is not None and synced.subscriber_id:
        customer = Customer.objects.filter(pk=synced.subscriber_id).first()
    if customer is None and client_reference_id and str(client_reference_id).isdigit():
        customer = Customer.objects.filter(pk=int(client_reference_id)).first()
    if customer is None:
        return None
    if customer.stripe_customer_id:
        logger.warning(
            "stripe customer does not match ours",
            extra={
                "customer": customer.external_id,
                "ours": customer.stripe_customer_id,
                "event_customer": stripe_customer_id,
            },
        )
        return None
    Customer.objects.filter(pk=customer.pk, stripe_customer_id="").update(
        stripe_customer_id=stripe_customer_id
    )
    customer.stripe_customer_id = stripe_customer_id
    return customer


def governing_subscription(*, stripe_customer_id: str) -> SubscriptionState | None:
    """The subscription the customer's plan follows (see the module docstring)."""
    states = [
        SubscriptionState.of(row)
        for row in StripeSubscription.objects.filter(customer_id=stripe_customer_id)
    ]
    live = [s for s in states if s.status in LIVE_STATUSES]
    pool = live or [s for s in states if s.status in ENDED_STATUSES]
    if not pool:
        return None
    return max(pool, key=lambda s: (s.created, s.synced_order))


@transaction.atomic
def subscription_state_apply(
    *,
    customer: Customer,
    stripe_customer_id: str,
    event_id: str,
    event_type: str,
    event_at: datetime | None,
    source: str = ChangeSource.WEBHOOK,
    actor: str = ACTOR,
) -> list[PlanChange]:
    """Apply the governing subscription's state to the customer; returns the audit rows.

    `event_at`: the time of a subscription event, checked against and recorded in
    `stripe_state_at`; None for events that do not order the state (invoice, checkout, and a
    change we made ourselves and synced at once, `billing/services/plan_switch.py`).
    `source`/`actor` name who caused the change in the audit rows. Whichever of that sync and
    the webhook about the same change runs second finds nothing left to change and writes no
    row (both hold the customer's row lock).
    """
    state = governing_subscription(stripe_customer_id=stripe_customer_id)
    if state is None:
        return []
    locked = customer_lock(customer)
    newest = locked.stripe_state_at
    if event_at is not None and newest is not None and event_at < newest:
        logger.info(
            "stale stripe event ignored",
            extra={"customer": locked.external_id, "event": event_id, "type": event_type},
        )
        return []
    if locked.complimentary and state.status in ENDED_STATUSES:
        # Staff gave this customer its plan by hand after its subscription ended: the ended
        # subscription (its late or replayed events) no longer decides the plan.
        return []
    status = STATUS_FROM_STRIPE[state.status]
    if plan_held_for_our_move(state):
        # Our plan change is ahead of Stripe: its price move is still to be sent (outbox,
        # `billing/services/stripe_price_moves.py`). The old price must not move the
        # customer back; the move's own webhook brings Stripe in line with the plan.
        plan = locked.plan
    else:
        plan = plan_for_subscription(state, current=locked.plan)
    reason = f"Stripe subscription {state.subscription_id} is {state.status} ({event_type})"
    changes = []
    before = customer_state(locked)
    locked.status = status
    locked.stripe_subscription_id = state.subscription_id
    if event_at is not None:
        locked.stripe_state_at = max(filter(None, [locked.stripe_state_at, event_at]))
    locked.save(update_fields=["status", "stripe_subscription_id", "stripe_state_at", "updated_at"])
    status_change = customer_status_record(
        locked=locked,
        before=before,
        source=source,
        actor=actor,
        reason=reason,
        stripe_event_id=event_id,
    )
    if status_change is not None:
        changes.append(status_change)
    plan_change = customer_change_plan(
        customer=locked,
        locked=locked,
        plan=plan,
        source=source,
        actor=actor,
        reason=reason,
        stripe_event_id=event_id,
    )
    if plan_change is not None:
        changes.append(plan_change)
    cancellation = _cancellation_followed(
        customer=customer, locked=locked, state=state, source=source, actor=actor
    )
    if cancellation is not None:
        changes.append(cancellation)
    if changes:
        logger.info(
            "customer follows stripe",
            extra={
                "customer": locked.external_id,
                "plan": plan.code,
                "status": status,
                "subscription": state.subscription_id,
                "event": event_id,
            },
        )
    customer.status, customer.plan = locked.status, locked.plan
    customer.stripe_subscription_id = locked.stripe_subscription_id
    customer.stripe_state_at = locked.stripe_state_at
    return changes


def _cancellation_followed(
    *, customer: Customer, locked: Customer, state: SubscriptionState, source: str, actor: str
) -> PlanChange | None:
    """Our move to Free at the period's end, in step with the subscription's
    `cancel_at_period_end`, which the customer may also set or unset in Stripe's billing
    portal: set to cancel there, the move is scheduled here (for when the period ends); set to
    renew again, a pending move to a free plan is dropped. Not while our own cancel or resume
    is still on its way to Stripe (the outbox): ours is then the newer word."""
    if state.status not in LIVE_STATUSES or cancellation_awaited(
        subscription_id=state.subscription_id
    ):
        return None
    pending_free = locked.pending_plan_id is not None and locked.pending_plan.price_cents == 0
    if state.cancel_at_period_end and not pending_free and locked.plan.price_cents > 0:
        ends = subscription_period_end(locked)
        if ends is None:
            return None
        return pending_plan_set(
            customer=customer,
            locked=locked,
            plan=Plan.objects.get(code=DEFAULT_PLAN_CODE),
            at=ends,
            source=source,
            actor=actor,
            reason=f"Stripe subscription {state.subscription_id} is set to cancel at the end "
            "of its period (Stripe's billing portal)",
        )
    if not state.cancel_at_period_end and pending_free:
        return pending_plan_drop(
            customer=customer,
            locked=locked,
            source=source,
            actor=actor,
            reason=f"Stripe subscription {state.subscription_id} renews again (Stripe's "
            "billing portal): the move to Free is undone",
        )
    return None


def plan_held_for_our_move(state: SubscriptionState) -> bool:
    """Whether our newest price move of this live subscription has not reached Stripe yet
    (pending or failed): our plan is then ahead of Stripe's price and stands."""
    return state.status in LIVE_STATUSES and latest_move_awaited(
        subscription_id=state.subscription_id, price_ids=state.price_ids
    )


def plan_for_subscription(state: SubscriptionState, *, current: Plan) -> Plan:
    if state.status in ENDED_STATUSES:
        return Plan.objects.get(code=DEFAULT_PLAN_CODE)
    for price_id in state.price_ids:
        plan = plan_for_price(price_id)
        if plan is not None:
            return plan
    if current.is_legacy:
        # An imported customer's subscription still on the old system's price, before staff
        # have linked that price to the legacy plan: the legacy plan stands (its status is
        # still applied) rather than every event failing until Stripe disables the endpoint.
        logger.warning(
            "unlinked legacy stripe price",
            extra={"subscription": state.subscription_id, "prices": list(state.price_ids),
                   "plan": current.code},
        )  # fmt: skip
        return current
    raise UnknownStripePrice(
        f"Subscription {state.subscription_id} bills price(s) {', '.join(state.price_ids)}, "
        "which no plan uses: set the plan's Stripe price (admin, or STRIPE_PRICE_*), then "
        "replay the event."
    )


def payment_failed_notify(*, customer: Customer, invoice_id: str) -> None:
    """E-mail the customer that a payment failed: once per invoice, while it is still unpaid
    and its subscription has not ended (a late event about a since-paid invoice sends none)."""
    invoice = StripeInvoice.objects.filter(id=invoice_id).first()
    if invoice is None:
        return
    data = invoice.stripe_data
    if data.get("status") != "open":
        return
    details = (data.get("parent") or {}).get("subscription_details") or {}
    subscription = StripeSubscription.objects.filter(id=details.get("subscription") or "").first()
    if subscription is not None and subscription.stripe_data.get("status") in ENDED_STATUSES:
        return
    next_attempt = data.get("next_payment_attempt")
    email_send_once(
        customer=customer,
        kind=EmailKind.PAYMENT_FAILED,
        dedupe_key=invoice_id,
        context={
            "amount": money(data.get("amount_due") or 0, data.get("currency") or "usd"),
            "invoice_number": data.get("number") or invoice_id,
            "invoice_url": data.get("hosted_invoice_url") or "",
            "next_attempt": datetime.fromtimestamp(next_attempt, UTC) if next_attempt else None,
            "plan": customer.plan,
        },
    )


def _id_of(value) -> str:
    if isinstance(value, dict):
        return value.get("id") or ""
    return value if isinstance(value, str) else ""


def stripe_customer_of(obj) -> str:
    """The Stripe customer id an event's object names ("" when none): its `customer`, expanded
    or not, or its own id when the object is a customer."""
    if not isinstance(obj, dict):
        return ""
    if obj.get("object") == "customer":
        return _id_of(obj.get("id"))
    return _id_of(obj.get("customer"))
