"""Stripe webhooks at `/webhooks/stripe`, through dj-stripe's own machinery.

dj-stripe 2.11 only routes `/stripe/webhook/<uuid>/`. This view resolves our configured
`WebhookEndpoint` (its secret is `STRIPE_WEBHOOK_SECRET`) and hands the request to dj-stripe's
`ProcessWebhookView`, so everything dj-stripe does stays as it is: a `WebhookEventTrigger` row
per delivery, the signature and timestamp check (400 and nothing applied when either fails),
the `Event` stored once per Stripe event id, the event's object re-fetched and synced, and any
error answered 500 (Stripe retries; the trigger keeps the error for replay) with every write of
that delivery rolled back. Our receiver runs after dj-stripe's sync, in its transaction.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.event_handlers import djstripe_receiver
from djstripe.views import ProcessWebhookView

from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS, webhook_endpoint_get
from billing.services.subscriptions import stripe_event_apply

_process = ProcessWebhookView.as_view()


@csrf_exempt
@login_not_required
@transaction.non_atomic_requests
@require_POST
def stripe_webhook(request):
    endpoint = webhook_endpoint_get()
    if endpoint is None:
        return JsonResponse(
            {
                "code": "stripe_unavailable",
                "detail": "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET is empty).",
            },
            status=503,
        )
    # With DEBUG on, dj-stripe lets this header replace the endpoint's secret (for
    # `stripe listen`); a caller must never choose the secret its signature is checked with.
    request.META.pop("HTTP_X_DJSTRIPE_WEBHOOK_SECRET", None)
    request.__dict__.pop("headers", None)
    return _process(request, uuid=endpoint.djstripe_uuid)


@djstripe_receiver(WEBHOOK_EVENTS)
def stripe_event_received(sender, event, **kwargs) -> None:
    stripe_event_apply(event=event)
