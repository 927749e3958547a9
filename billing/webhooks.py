"""Stripe webhooks at `/webhooks/stripe`: verified here, processed by a worker.

The view stores nothing until the delivery's signature holds: the body is capped
(`STRIPE_WEBHOOK_MAX_BYTES`, 413), the `Stripe-Signature` header is checked against
`STRIPE_WEBHOOK_SECRET` with dj-stripe's tolerance (400 when it does not hold, or when the body
is no Stripe event), and only then is the delivery kept, as dj-stripe's `WebhookEventTrigger`
row, and `process_stripe_event` queued in the same transaction. Stripe gets its 200 within
milliseconds, whatever Stripe itself takes to answer the re-fetch that processing makes.

Processing runs in a worker, in one transaction: dj-stripe stores the `Event` once per Stripe
event id, re-fetches its object from Stripe and syncs it, and our receiver applies it. An error
rolls it all back and stays on the trigger; `stripe-events-retry` (every 5 minutes, for three
days, as Stripe would) processes it again. dj-stripe's own `/stripe/webhook/<uuid>/` is not
routed: with DEBUG on, a request header there could choose the secret it is checked with.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from traceback import format_exc

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_tasks import task
from djstripe import signals
from djstripe.event_handlers import djstripe_receiver
from djstripe.models import WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip
from djstripe.settings import djstripe_settings

from accounts.errors import BillingError
from api.errors import json_methods
from api.metrics import counter_increment
from billing import stripe_gateway
from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS, webhook_endpoint_get
from billing.services.subscriptions import (
    UnknownStripePrice,
    stripe_customer_of,
    stripe_event_apply,
)

logger = logging.getLogger(__name__)

# Stripe itself retries a delivery for three days; so do we.
RETRY_FOR = timedelta(days=3)
RETRY_AFTER = timedelta(minutes=1)
RETRY_BATCH = 500


def _refused(status: int, code: str, detail: str) -> JsonResponse:
    counter_increment(f"metrics:webhooks_refused:{code}")
    logger.warning("stripe webhook refused", extra={"code": code})
    return JsonResponse({"code": code, "detail": detail}, status=status)


@csrf_exempt
@login_not_required
@transaction.non_atomic_requests
@json_methods("POST")
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
    declared = request.META.get("CONTENT_LENGTH") or "0"
    limit = settings.STRIPE_WEBHOOK_MAX_BYTES
    if not declared.isdigit() or int(declared) > limit or len(request.body) > limit:
        return _refused(413, "too_large", f"A Stripe event is never larger than {limit:,} bytes.")
    signature = request.headers.get("Stripe-Signature", "")
    try:
        payload = request.body.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            payload, signature, endpoint.secret, endpoint.djstripe_tolerance
        )
    except (UnicodeDecodeError, stripe.SignatureVerificationError):
        return _refused(
            400,
            "bad_signature",
            "The Stripe-Signature header does not match this body and the endpoint's secret "
            "(or is older than the tolerance).",
        )
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not {"id", "type", "livemode"} <= event.keys():
        return _refused(400, "not_an_event", "The body is not a Stripe event.")
    with transaction.atomic():
        trigger = WebhookEventTrigger.objects.create(
            headers=dict(request.headers),
            body=payload,
            remote_ip=get_remote_ip(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
            valid=True,
        )
        process_stripe_event.enqueue(trigger.pk)
    return JsonResponse({"received": event["id"]})


def _api_key(trigger: WebhookEventTrigger) -> str | None:
    account = trigger.stripe_trigger_account
    return (account.default_api_key if account else None) or djstripe_settings.get_default_api_key(
        trigger.webhook_endpoint.livemode if trigger.webhook_endpoint else False
    )


@task()
def process_stripe_event(trigger_id: int) -> dict:
    """Process one verified delivery (a task): dj-stripe stores the event once per Stripe id,
    re-fetches and syncs its object, then our receiver applies it. One transaction under the
    trigger's row lock, so a retry and the original never process it at the same time; an error
    rolls everything back and stays on the trigger for the retry job and staff."""
    try:
        with transaction.atomic():
            trigger = (
                WebhookEventTrigger.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("webhook_endpoint", "stripe_trigger_account")
                .filter(pk=trigger_id, valid=True, processed=False)
                .first()
            )
            if trigger is None:
                return {"skipped": "processed, invalid or being processed"}
            api_key = _api_key(trigger)
            trigger.process(save=False, api_key=api_key)
            signals.webhook_post_process.send(
                sender=WebhookEventTrigger, instance=trigger, api_key=api_key
            )
            trigger.save()
    except Exception as exc:
        max_length = WebhookEventTrigger._meta.get_field("exception").max_length
        WebhookEventTrigger.objects.filter(pk=trigger_id).update(
            exception=str(exc)[:max_length], traceback=format_exc()
        )
        logger.exception("stripe event processing failed", extra={"trigger": trigger_id})
        return {"failed": str(exc)[:500]}
    return {"processed": trigger.event_id}


def stripe_events_retry(*, now=None) -> int:
    """Queue again the verified deliveries not processed yet (an error, or a lost task), from
    one minute to three days old. Returns how many."""
    now = now or timezone.now()
    ids = list(
        WebhookEventTrigger.objects.filter(
            valid=True,
            processed=False,
            created__gte=now - RETRY_FOR,
            created__lte=now - RETRY_AFTER,
        )
        .order_by("created")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    for trigger_id in ids:
        process_stripe_event.enqueue(trigger_id)
    return len(ids)


@task()
def retry_stripe_events() -> dict:
    """Scheduled every 5 minutes: `stripe_events_retry` in a worker."""
    return {"queued": stripe_events_retry()}


@task()
def replay_stripe_event(trigger_id: int) -> dict:
    """Staff's replay of one delivery (the ledger's action). One not processed yet is processed
    as usual; a processed one has its event applied again. That is idempotent: subscription
    events re-read Stripe's current state (and an older event never overrides a newer one),
    and each e-mail is sent once per key; so a replay changes only what has drifted."""
    trigger = (
        WebhookEventTrigger.objects.select_related("event").filter(pk=trigger_id, valid=True)
    ).first()
    if trigger is None:
        return {"skipped": "not a verified delivery"}
    if not trigger.processed:
        return process_stripe_event.call(trigger_id)
    event = trigger.event
    if event is None:
        return {"skipped": "processed without a stored event"}
    stripe_customer_id = stripe_customer_of(event.data.get("object"))
    try:
        if stripe_customer_id:
            # What processing did when the event came: read the subscriptions from Stripe.
            stripe_gateway.subscriptions_sync(stripe_customer_id=stripe_customer_id)
        with transaction.atomic():
            stripe_event_apply(event=event)
    except (BillingError, UnknownStripePrice) as exc:
        logger.warning("stripe event replay failed", extra={"trigger": trigger_id})
        return {"failed": getattr(exc, "detail", str(exc))}
    return {"replayed": event.id}


def stripe_events_replay(ids) -> int:
    """Queue a replay of each verified delivery among `ids`; returns how many."""
    valid = list(
        WebhookEventTrigger.objects.filter(pk__in=list(ids), valid=True)
        .order_by("created")
        .values_list("pk", flat=True)
    )
    for trigger_id in valid:
        replay_stripe_event.enqueue(trigger_id)
    return len(valid)


@djstripe_receiver(WEBHOOK_EVENTS)
def stripe_event_received(sender, event, **kwargs) -> None:
    stripe_event_apply(event=event)
