"""Webhook delivery: events signed as Stripe signs them, POSTed to one endpoint, in order."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# The events the portal's Stripe endpoint is registered for (README, "Stripe").
DEFAULT_ENABLED_EVENTS = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
)


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header: `t=<unix time>,v1=<HMAC-SHA256 of "t.payload">`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    status: int | None = None
    error: str = ""
    body: str = ""
    at: float = 0.0
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def as_dict(self) -> dict:
        return {
            "event": self.event_id,
            "type": self.event_type,
            "status": self.status,
            "error": self.error,
            "body": self.body[:2000],
            "at": self.at,
        }


class WebhookSender:
    """Signs and POSTs events to the webhook URL; one worker keeps them in order."""

    def __init__(
        self,
        *,
        url: str | None,
        secret: str | None,
        enabled_events=DEFAULT_ENABLED_EVENTS,
        timeout: float = 30.0,
        on_delivered=None,
    ) -> None:
        self.url = url
        self.on_delivered = on_delivered
        self.secret = secret
        self.enabled_events = tuple(enabled_events)
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._deliveries_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None

    def wants(self, event_type: str) -> bool:
        if not self.url or not self.secret:
            return False
        return "*" in self.enabled_events or event_type in self.enabled_events

    def start(self) -> None:
        self._worker = threading.Thread(target=self._run, name="stripe-standin-webhooks")
        self._worker.daemon = True
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=self.timeout + 5)
            self._worker = None

    def submit(self, event_id: str, event_type: str, payload_for) -> Delivery:
        """Queue one delivery; `payload_for()` gives the event body at the time of sending."""
        delivery = Delivery(event_id=event_id, event_type=event_type)
        self._queue.put((delivery, payload_for))
        return delivery

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued delivery has been attempted."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                delivery, payload_for = job
                self.send(delivery, payload_for())
            except Exception:  # never let one delivery kill the worker
                logger.exception("webhook delivery crashed")
            finally:
                self._queue.task_done()

    def send(self, delivery: Delivery, event: dict, *, timestamp: int | None = None) -> Delivery:
        """POST one event now, in the calling thread, and record the outcome."""
        payload = json.dumps(event, indent=2)
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured endpoint
            self.url,
            data=payload.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": signature_header(payload, self.secret, timestamp),
            },
        )
        delivery.at = time.time()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                delivery.status = response.status
                delivery.body = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
            delivery.body = exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            delivery.error = str(exc)
        with self._deliveries_lock:
            self.deliveries.append(delivery)
        if self.on_delivered is not None:
            self.on_delivered(delivery)
        logger.info(
            "webhook %s %s → %s",
            delivery.event_type,
            delivery.event_id,
            delivery.status or delivery.error,
        )
        delivery.done.set()
        return delivery

    def history(self) -> list[dict]:
        with self._deliveries_lock:
            return [d.as_dict() for d in self.deliveries]
