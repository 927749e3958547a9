"""The dj-stripe `WebhookEndpoint` row behind `/webhooks/stripe`.

dj-stripe 2.11 verifies a webhook with the secret stored on a `WebhookEndpoint` row and has no
global secret setting. Ours is made from the environment: `STRIPE_WEBHOOK_SECRET` (the
`whsec_…` Stripe shows for the endpoint registered at https://<host>/webhooks/stripe) and
`STRIPE_WEBHOOK_ENDPOINT_ID` (that endpoint's `we_…` id, so that a later dj-stripe sync of
webhook endpoints updates this row instead of adding one without a secret). The row is made
or corrected by `manage.py sync_stripe_webhook_endpoint`, and on the first webhook anyway.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from djstripe.enums import WebhookEndpointStatus, WebhookEndpointValidation
from djstripe.models import WebhookEndpoint

logger = logging.getLogger(__name__)

# The events to select when registering the endpoint at Stripe (README, "Stripe").
WEBHOOK_EVENTS = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
]
WEBHOOK_PATH = "/webhooks/stripe"


def webhook_endpoint_fields() -> dict:
    """What the row must hold, from settings."""
    return {
        "secret": settings.STRIPE_WEBHOOK_SECRET,
        "url": settings.SITE_URL.rstrip("/") + WEBHOOK_PATH,
        "enabled_events": WEBHOOK_EVENTS,
        "api_version": settings.STRIPE_API_VERSION,
        "status": WebhookEndpointStatus.enabled,
        "livemode": settings.STRIPE_LIVE_MODE,
        "djstripe_validation_method": WebhookEndpointValidation.verify_signature,
    }


def webhook_endpoint_get() -> WebhookEndpoint | None:
    """The endpoint to verify `/webhooks/stripe` with, made or corrected if needed.

    None when no `STRIPE_WEBHOOK_SECRET` is configured: nothing can be verified then.
    """
    if not settings.STRIPE_WEBHOOK_SECRET:
        return None
    endpoint = WebhookEndpoint.objects.filter(id=settings.STRIPE_WEBHOOK_ENDPOINT_ID).first()
    if endpoint is not None and not _differences(endpoint, webhook_endpoint_fields()):
        return endpoint
    return webhook_endpoint_sync()[0]


def webhook_endpoint_sync() -> tuple[WebhookEndpoint, str]:
    """Create or correct the row from settings; returns it and "created", "updated" or
    "unchanged". Makes no Stripe call."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise ValueError("STRIPE_WEBHOOK_SECRET is empty: there is no secret to verify with.")
    fields = webhook_endpoint_fields()
    endpoint_id = settings.STRIPE_WEBHOOK_ENDPOINT_ID
    try:
        with transaction.atomic():
            endpoint, created = WebhookEndpoint.objects.select_for_update().get_or_create(
                id=endpoint_id, defaults=fields
            )
            if created:
                action = "created"
            else:
                changed = _differences(endpoint, fields)
                for name in changed:
                    setattr(endpoint, name, fields[name])
                if changed:
                    endpoint.save()
                action = "updated" if changed else "unchanged"
    except IntegrityError:
        # Another request created it at the same moment: theirs holds the same fields.
        return WebhookEndpoint.objects.get(id=endpoint_id), "unchanged"
    if action != "unchanged":
        logger.info("stripe webhook endpoint %s", action, extra={"endpoint": endpoint_id})
    return endpoint, action


def _differences(endpoint: WebhookEndpoint, fields: dict) -> list[str]:
    return [name for name, value in fields.items() if getattr(endpoint, name) != value]
