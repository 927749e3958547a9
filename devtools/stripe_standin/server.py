"""The stand-in's HTTP face: Stripe's REST API (form-encoded in, JSON out), test helpers, and
the hosted Checkout and invoice pages a developer clicks through during `make run`."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import random
import re
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from devtools.stripe_standin import objects
from devtools.stripe_standin.billing_portal import BillingPortalPages
from devtools.stripe_standin.delivery import DEFAULT_ENABLED_EVENTS, Delivery, WebhookSender
from devtools.stripe_standin.store import RequestContext, StandinError, Store

logger = logging.getLogger(__name__)

_ID = r"(?P<id>[A-Za-z0-9_\-]+)"
# (method, path pattern, handler, needs an API key)
ROUTES = [
    ("GET", r"/v1/account", "account_get", True),
    ("POST", r"/v1/customers", "customer_create", True),
    ("GET", r"/v1/customers", "customer_list", True),
    ("GET", rf"/v1/customers/{_ID}", "customer_get", True),
    ("POST", rf"/v1/customers/{_ID}", "customer_update", True),
    ("POST", r"/v1/products", "product_create", True),
    ("GET", r"/v1/products", "product_list", True),
    ("GET", rf"/v1/products/{_ID}/features", "product_features", True),
    ("GET", rf"/v1/products/{_ID}", "product_get", True),
    ("POST", rf"/v1/products/{_ID}", "product_update", True),
    ("POST", r"/v1/prices", "price_create", True),
    ("GET", r"/v1/prices", "price_list", True),
    ("GET", rf"/v1/prices/{_ID}", "price_get", True),
    ("POST", rf"/v1/prices/{_ID}", "price_update", True),
    ("POST", r"/v1/checkout/sessions", "session_create", True),
    ("GET", r"/v1/checkout/sessions", "session_list", True),
    ("GET", rf"/v1/checkout/sessions/{_ID}/line_items", "session_line_items", True),
    ("GET", rf"/v1/checkout/sessions/{_ID}", "session_get", True),
    ("POST", rf"/v1/checkout/sessions/{_ID}/expire", "session_expire", True),
    ("GET", r"/v1/subscriptions", "subscription_list", True),
    ("GET", rf"/v1/subscriptions/{_ID}", "subscription_get", True),
    ("POST", rf"/v1/subscriptions/{_ID}", "subscription_update", True),
    ("DELETE", rf"/v1/subscriptions/{_ID}", "subscription_cancel", True),
    ("GET", r"/v1/subscription_items", "subscription_items_list", True),
    ("GET", rf"/v1/subscription_items/{_ID}", "subscription_item_get", True),
    ("GET", r"/v1/invoices", "invoice_list", True),
    ("POST", r"/v1/invoices/create_preview", "invoice_create_preview", True),
    ("GET", rf"/v1/invoices/{_ID}/lines", "invoice_lines", True),
    ("GET", rf"/v1/invoices/{_ID}", "invoice_get", True),
    ("GET", r"/v1/events", "event_list", True),
    ("GET", rf"/v1/events/{_ID}", "event_get", True),
    ("POST", r"/v1/billing_portal/sessions", "billing_portal_session_create", True),
    # Test helpers (not Stripe's API): they do what a customer or the calendar would.
    ("POST", rf"/_standin/checkout/sessions/{_ID}/complete", "helper_session_complete", False),
    ("POST", rf"/_standin/subscriptions/{_ID}/fail_payment", "helper_fail_payment", False),
    ("POST", rf"/_standin/subscriptions/{_ID}/renew", "helper_renew", False),
    ("POST", rf"/_standin/subscriptions/{_ID}/period_end", "helper_period_end", False),
    ("POST", rf"/_standin/events/{_ID}/deliver", "helper_deliver", False),
    ("POST", r"/_standin/webhooks/wait", "helper_wait", False),
    ("GET", r"/_standin/deliveries", "helper_deliveries", False),
    ("GET", r"/_standin/requests", "helper_requests", False),
    ("POST", r"/_standin/fail_next", "helper_fail_next", False),
    ("POST", r"/_standin/latency", "helper_latency", False),
    ("GET", r"/_standin", "helper_info", False),
    # Pages a browser visits in place of checkout.stripe.com and invoice.stripe.com.
    ("GET", rf"/c/pay/{_ID}", "page_checkout", False),
    ("POST", rf"/c/pay/{_ID}", "page_checkout_submit", False),
    ("GET", rf"/i/{_ID}", "page_invoice", False),
    # billing.stripe.com's customer portal (billing_portal.py).
    ("GET", rf"/p/session/{_ID}", "page_billing_portal", False),
    ("POST", rf"/p/session/{_ID}/card", "page_billing_portal_card", False),
    ("POST", rf"/p/session/{_ID}/cancel", "page_billing_portal_cancel", False),
    ("POST", rf"/p/session/{_ID}/keep", "page_billing_portal_keep", False),
]
_COMPILED = [
    (method, re.compile(f"^{pattern}/?$"), name, auth) for method, pattern, name, auth in ROUTES
]
# Operations that change state: answered through the idempotency cache.
_MUTATIONS = {
    "customer_create",
    "customer_update",
    "product_create",
    "product_update",
    "price_create",
    "price_update",
    "session_create",
    "session_expire",
    "subscription_update",
    "subscription_cancel",
    "billing_portal_session_create",
}
# What real Stripe accepts in test mode (and dj-stripe checks): the prefix, 24+ letters and digits.
_API_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9]{24,}$")


def decode_form(pairs) -> dict:
    """Stripe's bracket encoding (`items[0][price]=x`, `expand[]=y`) into nested values."""
    root: dict = {}
    for key, value in pairs:
        head, _, tail = key.partition("[")
        parts = [head] + (re.findall(r"([^\[\]]*)\]", "[" + tail) if tail else [])
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise StandinError(400, f"Invalid parameter: {key}")
    return _listify(root)


def _listify(value):
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def _route(method: str, path: str) -> tuple[str, bool, dict]:
    for route_method, pattern, name, needs_key in _COMPILED:
        match = pattern.match(path)
        if match and route_method == method:
            return name, needs_key, match.groupdict()
    raise StandinError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )


class StripeStandin:
    """A local Stripe: `start()` serves it in a thread, `serve_forever()` in the foreground.

    `webhook_url`/`webhook_secret`: where events go and the `whsec_…` that signs them.
    `auto_deliver=False` keeps events (listed by `GET /v1/events`) until a test delivers them
    one by one with `deliver(event_id)`. `latency_ms` delays every answer of the API (as real
    Stripe's 200-500 ms would); `fail_rate` (0-1) answers that share of API calls with a 500,
    and `fail_next(count, status)` the next `count` calls with 500 or 429.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        enabled_events=DEFAULT_ENABLED_EVENTS,
        auto_deliver: bool = True,
        public_url: str | None = None,
        quiet: bool = True,
        state_file: str | None = None,
        latency_ms: int = 0,
        fail_rate: float = 0.0,
    ) -> None:
        self.latency_ms = latency_ms
        self.fail_rate = fail_rate
        self._failures: deque = deque()  # statuses the next API calls answer with
        self._failures_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.standin = self
        self._public_url = public_url
        self.store = Store(public_url=lambda: self.public_url)
        self.sender = WebhookSender(
            url=webhook_url,
            secret=webhook_secret,
            enabled_events=enabled_events,
            on_delivered=self._on_delivered,
        )
        self.auto_deliver = auto_deliver
        self.quiet = quiet
        self.requests: deque = deque(maxlen=2000)
        self._idempotency: dict[str, tuple[str, int, bytes]] = {}
        self._idempotency_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.state_file = Path(state_file) if state_file else None
        self._save_lock = threading.Lock()
        if self.state_file is not None and self.state_file.exists():
            self.store.restore(json.loads(self.state_file.read_text()))

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` API calls with `status` (500 or 429) instead of serving."""
        if status not in (429, 500):
            raise ValueError("status must be 429 or 500")
        with self._failures_lock:
            self._failures.extend([status] * count)

    def injected_failure(self) -> int | None:
        """The status to fail this API call with, if a failure is due (then it is used up)."""
        with self._failures_lock:
            if self._failures:
                return self._failures.popleft()
        if self.fail_rate and random.random() < self.fail_rate:
            return 500
        return None

    def save(self) -> None:
        """Write the objects to `state_file` (if any), atomically."""
        if self.state_file is None:
            return
        with self._save_lock:
            partial = self.state_file.with_suffix(".partial")
            partial.write_text(json.dumps(self.store.snapshot()))
            partial.replace(self.state_file)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def public_url(self) -> str:
        return (self._public_url or self.url).rstrip("/")

    def start(self) -> StripeStandin:
        self.sender.start()
        # A short poll interval makes stop() quick (tests start and stop one per test).
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.sender.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()
        self.sender.stop()

    # --- events ---------------------------------------------------------------------------

    def _on_delivered(self, delivery: Delivery) -> None:
        if delivery.status is not None and 200 <= delivery.status < 300:
            self.store.event_delivered(delivery.event_id)

    def dispatch(self, events: list[dict]) -> list[Delivery]:
        """Queue the events the endpoint is registered for (unless deliveries are held)."""
        deliveries = []
        for event in events:
            event_id, event_type = event["id"], event["type"]
            if not self.sender.wants(event_type):
                continue
            self.store.event_pending(event_id)
            if self.auto_deliver:
                deliveries.append(
                    self.sender.submit(
                        event_id,
                        event_type,
                        lambda event_id=event_id: self.store.event_get(event_id, {}),
                    )
                )
        return deliveries

    def deliver(self, event_id: str, *, timestamp: int | None = None) -> Delivery:
        """Send one stored event now (Stripe's "Resend"), freshly signed; returns the outcome."""
        event = self.store.event_get(event_id, {})
        if not self.sender.url or not self.sender.secret:
            raise StandinError(400, "No webhook URL and secret configured for the stand-in.")
        return self.sender.send(
            Delivery(event_id=event_id, event_type=event["type"]), event, timestamp=timestamp
        )

    def wait_for_webhooks(self, timeout: float = 60.0) -> bool:
        return self.sender.wait_idle(timeout)

    def events(self, since: int = 0) -> list[dict]:
        """Stored events, oldest first, from position `since` (see `event_count()`)."""
        return self.store.events_created_since(since)

    def event_count(self) -> int:
        return self.store.event_count()

    # --- idempotency ----------------------------------------------------------------------

    def idempotent(self, key: str | None, fingerprint: str, run) -> tuple[int, bytes, bool]:
        """Stripe's rule: the same key and parameters give the first answer again."""
        if not key:
            status, body = run()
            return status, body, False
        with self._idempotency_lock:
            cached = self._idempotency.get(key)
        if cached is not None:
            if cached[0] != fingerprint:
                error = StandinError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type_="idempotency_error",
                )
                return error.status, json.dumps(error.body).encode(), False
            return cached[1], cached[2], True
        status, body = run()
        if status < 500:
            with self._idempotency_lock:
                self._idempotency.setdefault(key, (fingerprint, status, body))
        return status, body, False


class _Handler(BillingPortalPages, BaseHTTPRequestHandler):
    server_version = "StripeStandin/1.0"

    @property
    def standin(self) -> StripeStandin:
        return self.server.standin

    def log_message(self, format, *args):
        if not self.standin.quiet:
            logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    # --- plumbing ---------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        try:
            self._dispatch(method)
        finally:
            if method != "GET":
                self.standin.save()

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        request_id = objects.new_id("req_", 14)
        self._params = {}  # one handler serves every request of a kept-alive connection
        self._key = ""
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length).decode("utf-8") if length else ""
        try:
            name, needs_key, args = _route(method, path)
            if needs_key:
                self._authenticate()
            params = decode_form(parse_qsl(split.query, keep_blank_values=True))
            if raw_body and "json" not in (self.headers.get("Content-Type") or ""):
                params.update(decode_form(parse_qsl(raw_body, keep_blank_values=True)))
            self._params = params
            ctx = RequestContext(
                request_id=request_id, idempotency_key=self.headers.get("Idempotency-Key")
            )
            if name.startswith(("helper_", "page_")):
                getattr(self, name)(params=params, **args)
                return
            if self.standin.latency_ms:
                time.sleep(self.standin.latency_ms / 1000)
            failure = self.standin.injected_failure()
            if failure is not None:
                error = (
                    objects.error(
                        "Too many requests hit the API too quickly.",
                        type_="invalid_request_error",
                        code="rate_limit",
                    )
                    if failure == 429
                    else objects.error(
                        "Stripe had an internal error (stand-in).", type_="api_error"
                    )
                )
                self._send(failure, json.dumps(error).encode(), request_id=request_id)
                return
            if name in _MUTATIONS:
                fingerprint = hashlib.sha256(
                    json.dumps([method, path, params], sort_keys=True).encode()
                ).hexdigest()

                def run(name=name, args=args, params=params, ctx=ctx):
                    try:
                        body, events = getattr(self.standin.store, name)(
                            *args.values(), params, ctx
                        )
                    except StandinError as exc:
                        return exc.status, json.dumps(exc.body).encode()
                    self.standin.dispatch(events)
                    return 200, json.dumps(body).encode()

                status, body, replayed = self.standin.idempotent(
                    ctx.idempotency_key, fingerprint, run
                )
                headers = {"Idempotent-Replayed": "true"} if replayed else {}
                self._send(status, body, request_id=request_id, headers=headers)
                return
            operation = getattr(self.standin.store, name)
            body = operation() if name == "account_get" else operation(*args.values(), params)
            self._send(200, json.dumps(body).encode(), request_id=request_id)
        except StandinError as exc:
            self._send(exc.status, json.dumps(exc.body).encode(), request_id=request_id)
        except Exception:
            logger.exception("stand-in error on %s %s", method, path)
            error = objects.error("The Stripe stand-in failed; see its log.", type_="api_error")
            self._send(500, json.dumps(error).encode(), request_id=request_id)

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise StandinError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth "
                "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        self._key = key
        if not _API_KEY.match(key):
            raise StandinError(
                401,
                "Invalid API Key provided. The Stripe stand-in accepts test-mode keys only "
                "(sk_test_…).",
            )

    def _record(self, status: int) -> None:
        """Log the request before answering, so a client that got its answer sees it."""
        split = urlsplit(self.path)
        self.standin.requests.append(
            {
                "method": self.command,
                "path": split.path,
                "query": split.query,
                "status": status,
                "stripe_version": self.headers.get("Stripe-Version"),
                "stripe_account": self.headers.get("Stripe-Account"),
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "api_key": getattr(self, "_key", ""),
                # What the client asked for (tests check e.g. `proration_behavior`).
                "params": getattr(self, "_params", {}),
            }
        )

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        request_id: str | None = None,
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if request_id:
            self.send_header("Request-Id", request_id)
        self.send_header("Stripe-Version", objects.API_VERSION)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body) -> int:
        self._send(status, json.dumps(body).encode())
        return status

    def _redirect(self, location: str) -> int:
        self._record(HTTPStatus.SEE_OTHER)
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return 303

    def _html(self, status: int, title: str, content: str) -> int:
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}"
            "main{max-width:460px;margin:48px auto;background:#fff;border-radius:8px;"
            "padding:32px;box-shadow:0 2px 8px rgba(0,0,0,.08)}"
            "button{font-size:16px;padding:10px 18px;border-radius:6px;border:0;cursor:pointer}"
            ".pay{background:#635bff;color:#fff}.cancel{background:#e3e8ee;margin-left:8px}"
            ".note{font-size:13px;color:#697386}</style></head><body><main>"
            f"{content}<p class=note>Local Stripe stand-in: no card is charged.</p>"
            "</main></body></html>"
        )
        self._send(status, page.encode(), content_type="text/html; charset=utf-8")
        return status

    def _wait(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            delivery.done.wait(timeout=self.standin.sender.timeout + 5)

    # --- test helpers -----------------------------------------------------------------------

    def helper_session_complete(self, *, id: str, params: dict) -> int:
        session, events = self.standin.store.session_complete(id, params)
        self._wait(self.standin.dispatch(events))
        return self._json(200, session)

    def helper_fail_payment(self, *, id: str, params: dict) -> int:
        sub, events = self.standin.store.subscription_fail_payment(id, params)
        self._wait(self.standin.dispatch(events))
        return self._json(200, sub)

    def helper_renew(self, *, id: str, params: dict) -> int:
        sub, events = self.standin.store.subscription_renew(id, params)
        self._wait(self.standin.dispatch(events))
        return self._json(200, sub)

    def helper_deliver(self, *, id: str, params: dict) -> int:
        delivery = self.standin.deliver(id)
        return self._json(200, delivery.as_dict())

    def helper_wait(self, *, params: dict) -> int:
        idle = self.standin.wait_for_webhooks(float(params.get("timeout", 60)))
        return self._json(200 if idle else 504, {"idle": idle})

    def helper_deliveries(self, *, params: dict) -> int:
        return self._json(200, {"object": "list", "data": self.standin.sender.history()})

    def helper_requests(self, *, params: dict) -> int:
        return self._json(200, {"object": "list", "data": list(self.standin.requests)})

    def helper_fail_next(self, *, params: dict) -> int:
        """`POST /_standin/fail_next` count=N status=500|429: the next N API calls fail."""
        try:
            count, status = int(params.get("count", 1)), int(params.get("status", 500))
            self.standin.fail_next(count, status)
        except ValueError as exc:
            return self._json(400, objects.error(str(exc)))
        return self._json(200, {"failing_next": count, "status": status})

    def helper_latency(self, *, params: dict) -> int:
        """`POST /_standin/latency` ms=N: every API answer is delayed N ms from now on."""
        try:
            self.standin.latency_ms = max(0, int(params.get("ms", 0)))
        except ValueError:
            return self._json(400, objects.error("ms must be a whole number"))
        return self._json(200, {"latency_ms": self.standin.latency_ms})

    def helper_info(self, *, params: dict) -> int:
        return self._json(
            200,
            {
                "object": "stripe_standin",
                "api_version": objects.API_VERSION,
                "account": self.standin.store.account["id"],
                "webhook_url": self.standin.sender.url,
                "enabled_events": list(self.standin.sender.enabled_events),
                "auto_deliver": self.standin.auto_deliver,
                "latency_ms": self.standin.latency_ms,
                "fail_rate": self.standin.fail_rate,
            },
        )

    # --- pages ------------------------------------------------------------------------------

    def page_checkout(self, *, id: str, params: dict) -> int:
        session = self.standin.store.session_get(id, {"expand": ["line_items"]})
        if session["status"] != "open":
            return self._html(
                410,
                "Checkout",
                f"<h1>This Checkout Session is {html.escape(session['status'])}</h1>",
            )
        rows = "".join(
            f"<li>{html.escape(item['description'])}: "
            f"${item['amount_total'] / 100:.2f} / "
            f"{html.escape(item['price']['recurring']['interval'])}</li>"
            for item in session["line_items"]["data"]
        )
        email = session["customer_email"] or ""
        return self._html(
            200,
            "Checkout",
            f"<h1>Subscribe</h1><ul>{rows}</ul>"
            f"<p>Total due today: <b>${session['amount_total'] / 100:.2f}</b></p>"
            f"<form method=post><input type=hidden name=email value='{html.escape(email)}'>"
            "<button class=pay name=action value=pay>Pay (test card 4242)</button>"
            "<button class=cancel name=action value=cancel>Cancel</button></form>",
        )

    def page_checkout_submit(self, *, id: str, params: dict) -> int:
        session = self.standin.store.session_get(id, {})
        if params.get("action") == "cancel":
            return self._redirect(session["cancel_url"] or session["success_url"])
        session, events = self.standin.store.session_complete(id, params)
        self._wait(self.standin.dispatch(events))
        return self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", id))

    def page_invoice(self, *, id: str, params: dict) -> int:
        inv = self.standin.store.invoice_get(id, {})
        lines = "".join(
            f"<li>{html.escape(line['description'])}: ${line['amount'] / 100:.2f}</li>"
            for line in inv["lines"]["data"]
        )
        return self._html(
            200,
            f"Invoice {inv['number']}",
            f"<h1>Invoice {html.escape(inv['number'] or inv['id'])}</h1><ul>{lines}</ul>"
            f"<p>Amount due: <b>${inv['amount_due'] / 100:.2f}</b> — status "
            f"<b>{html.escape(inv['status'])}</b></p>",
        )
