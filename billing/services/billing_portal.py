"""Stripe's hosted billing portal: where a paying customer updates the card, reads and pays
invoices, and cancels. We only open it (`POST /billing/portal`); whatever the customer does
there reaches us through the usual webhooks (`billing/services/subscriptions.py`)."""

from __future__ import annotations

import logging

from accounts.errors import NoStripeCustomer
from accounts.models import Customer
from billing import stripe_gateway

logger = logging.getLogger(__name__)


def billing_portal_available(customer: Customer) -> bool:
    """Whether the customer has ever paid through Stripe (a Stripe customer with a
    subscription, live or ended): only then does the portal hold anything for it."""
    return bool(customer.stripe_customer_id and customer.stripe_subscription_id)


def billing_portal_session_start(*, customer: Customer, return_url: str) -> str:
    """A billing portal session for the customer's own Stripe customer; returns its URL.

    NoStripeCustomer (409 `no_stripe_customer`) for a customer who never paid;
    StripeUnavailable (503) when Stripe cannot be reached or refuses. Writes nothing.
    """
    if not billing_portal_available(customer):
        raise NoStripeCustomer(
            f"Customer {customer.external_id!r} has never paid through Stripe: there is no "
            "billing account to manage. Subscribe with POST /billing/checkout first."
        )
    session = stripe_gateway.billing_portal_session_create(
        stripe_customer_id=customer.stripe_customer_id, return_url=return_url
    )
    logger.info(
        "billing portal session created",
        extra={"customer": customer.external_id, "session": session.id},
    )
    return session.url
