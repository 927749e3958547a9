"""The Stripe stand-in on its own: Stripe's API shapes, errors, lists, idempotency, signing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import stripe
from django.core.management import call_command
from django.core.management.base import CommandError

from devtools.stripe_standin import StripeStandin

KEY = "sk_test_" + "S" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
OPTIONS = {"api_key": KEY, "stripe_version": "2026-05-27.dahlia"}
SECRET = "whsec_standin_tests"
SAMPLES = json.loads((Path(__file__).parent / "stripe_samples.json").read_text())["resources"]


class Receiver:
    """A webhook endpoint that records what it is sent and answers `status`."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[tuple[dict, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def catalogue():
    product = stripe.Product.create(id="prod_sessions", name="AI Gate - Starter", **OPTIONS)
    price = stripe.Price.create(
        product=product.id,
        unit_amount=2900,
        currency="usd",
        recurring={"interval": "month"},
        lookup_key="starter_monthly",
        **OPTIONS,
    )
    return product, price


def subscribed(server, email="buyer@example.com"):
    """A customer who went through Checkout: (customer, session, subscription)."""
    _, price = catalogue()
    customer = stripe.Customer.create(email=email, **OPTIONS)
    session = stripe.checkout.Session.create(
        mode="subscription",
        customer=customer.id,
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="https://portal.test/ok?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://portal.test/cancel",
        client_reference_id="42",
        **OPTIONS,
    )
    completed = post(server, f"/_standin/checkout/sessions/{session.id}/complete")
    subscription = stripe.Subscription.retrieve(completed["subscription"], **OPTIONS)
    return customer, completed, subscription


def post(server, path: str, expect: int = 200) -> dict:
    response = requests.post(server.url + path, timeout=30)
    assert response.status_code == expect, response.text
    return response.json()


def test_objects_have_the_keys_of_stripes_own_samples(server):
    customer, session, sub = subscribed(server)
    product = stripe.Product.retrieve("prod_sessions", **OPTIONS)
    price = stripe.Price.retrieve(sub["items"]["data"][0]["price"]["id"], **OPTIONS)
    invoice = stripe.Invoice.retrieve(sub.latest_invoice, **OPTIONS)
    event = stripe.Event.list(limit=1, **OPTIONS).data[0]
    ours = {
        "product": product,
        "price": price,
        "customer": stripe.Customer.retrieve(customer.id, **OPTIONS),
        "checkout.session": stripe.checkout.Session.retrieve(session["id"], **OPTIONS),
        "subscription": sub,
        "subscription_item": sub["items"]["data"][0],
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "event": event,
    }
    for kind, obj in ours.items():
        assert set(obj.keys()) == set(SAMPLES[kind].keys()), kind
        assert obj["object"] == SAMPLES[kind]["object"]


def test_dahlia_shapes_periods_on_items_and_subscription_under_parent(server):
    _, session, sub = subscribed(server)
    item = sub["items"]["data"][0]
    assert "current_period_end" not in sub
    assert item["current_period_end"] > item["current_period_start"] > 0
    invoice = stripe.Invoice.retrieve(sub.latest_invoice, **OPTIONS)
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.status == "paid"
    assert invoice.lines.data[0].period.start == item["current_period_start"]
    assert session["status"] == "complete"
    assert session["payment_status"] == "paid"
    assert session["client_reference_id"] == "42"


def test_unknown_ids_get_stripes_404_error(server):
    for path, name in [
        ("/v1/customers/cus_nope", "customer"),
        ("/v1/products/prod_nope", "product"),
        ("/v1/prices/price_nope", "price"),
        ("/v1/subscriptions/sub_nope", "subscription"),
        ("/v1/invoices/in_nope", "invoice"),
        ("/v1/checkout/sessions/cs_nope", "checkout.session"),
        ("/v1/events/evt_nope", "event"),
    ]:
        response = requests.get(server.url + path, headers=AUTH, timeout=30)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "resource_missing"
        assert error["param"] == "id"
        assert error["message"] == f"No such {name}: '{path.rsplit('/', 1)[1]}'"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.Subscription.retrieve("sub_nope", **OPTIONS)
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    response = requests.get(server.url + "/v1/nothing", headers=AUTH, timeout=30)
    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]


def test_a_test_mode_api_key_is_required(server):
    assert requests.get(server.url + "/v1/customers", timeout=30).status_code == 401
    live = {"Authorization": "Bearer sk_live_" + "L" * 24}
    assert requests.get(server.url + "/v1/customers", headers=live, timeout=30).status_code == 401
    with pytest.raises(stripe.AuthenticationError):
        stripe.Customer.list(api_key="sk_live_" + "L" * 24)


def test_lists_answer_for_what_is_stored(server):
    ids = [stripe.Customer.create(email=f"c{n}@example.com", **OPTIONS).id for n in range(3)]
    first = stripe.Customer.list(limit=2, **OPTIONS)
    assert [c.id for c in first.data] == ids[::-1][:2]  # newest first
    assert first.has_more
    rest = stripe.Customer.list(limit=2, starting_after=first.data[-1].id, **OPTIONS)
    assert [c.id for c in rest.data] == [ids[0]]
    assert not rest.has_more
    assert [c.id for c in stripe.Customer.list(email="c1@example.com", **OPTIONS).data] == [ids[1]]
    assert [c.id for c in stripe.Customer.list(**OPTIONS).auto_paging_iter()] == ids[::-1]

    _, price = catalogue()
    found = stripe.Price.list(lookup_keys=["starter_monthly"], active=True, **OPTIONS)
    assert [p.id for p in found.data] == [price.id]
    assert stripe.Price.list(lookup_keys=["other"], **OPTIONS).data == []
    expanded = stripe.Price.list(expand=["data.product"], **OPTIONS).data[0]
    assert expanded.product.name == "AI Gate - Starter"
    assert stripe.Product.list_features("prod_sessions", **OPTIONS).data == []


def test_subscription_list_hides_canceled_unless_asked(server):
    customer, _, sub = subscribed(server)
    assert [s.id for s in stripe.Subscription.list(customer=customer.id, **OPTIONS).data] == [
        sub.id
    ]
    stripe.Subscription.cancel(sub.id, **OPTIONS)
    assert stripe.Subscription.list(customer=customer.id, **OPTIONS).data == []
    everything = stripe.Subscription.list(customer=customer.id, status="all", **OPTIONS)
    assert [s.status for s in everything.data] == ["canceled"]
    invoices = stripe.Invoice.list(subscription=sub.id, **OPTIONS)
    assert [i.billing_reason for i in invoices.data] == ["subscription_create"]


def test_idempotency_keys_replay_the_first_answer(server):
    first = stripe.Customer.create(email="a@example.com", idempotency_key="k-1", **OPTIONS)
    again = stripe.Customer.create(email="a@example.com", idempotency_key="k-1", **OPTIONS)
    assert again.id == first.id
    assert len(stripe.Customer.list(**OPTIONS).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="other@example.com", idempotency_key="k-1", **OPTIONS)


def test_checkout_session_validation(server):
    _, price = catalogue()
    base = {
        "mode": "subscription",
        "success_url": "https://portal.test/ok",
        "line_items": [{"price": price.id, "quantity": 1}],
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.checkout.Session.create(**{**base, "line_items": None}, **OPTIONS)
    assert raised.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.checkout.Session.create(**{**base, "customer": "cus_nope"}, **OPTIONS)
    assert raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.create(**{**base, "line_items": [{"price": "price_x"}]}, **OPTIONS)
    session = stripe.checkout.Session.create(
        **base, expand=["line_items", "total_details.breakdown"], **OPTIONS
    )
    assert session.status == "open"
    assert session.url == f"{server.url}/c/pay/{session.id}"
    assert session.line_items.data[0].price.id == price.id
    assert session.total_details.breakdown.to_dict() == {"discounts": [], "taxes": []}


def test_events_are_signed_and_sent_as_stripe_does(server, receiver):
    customer, session, sub = subscribed(server)
    # Only the events the endpoint is registered for are sent, in the order they happened.
    assert receiver.types() == [
        "customer.subscription.created",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    for headers, body in receiver.received:
        signature = headers["Stripe-Signature"]
        assert stripe.WebhookSignature.verify_header(body, signature, SECRET, tolerance=300)
        event = stripe.Webhook.construct_event(body, signature, SECRET)
        assert event.api_version == "2026-05-27.dahlia"
        assert event.data.object.customer == customer.id
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.WebhookSignature.verify_header(body, signature, "whsec_other", tolerance=300)
    completed = json.loads(receiver.received[-1][1])["data"]["object"]
    assert completed["id"] == session["id"]
    assert completed["subscription"] == sub.id
    # Every event is kept, including those not sent.
    types = [e.type for e in stripe.Event.list(limit=100, **OPTIONS).auto_paging_iter()]
    assert types.count("customer.created") == 1  # Checkout reused the existing customer
    assert {"invoice.created", "invoice.finalized", "invoice.paid"} <= set(types)
    assert all(e.pending_webhooks == 0 for e in stripe.Event.list(limit=100, **OPTIONS).data)


def test_failed_deliveries_are_recorded_and_can_be_resent(server, receiver):
    receiver.status = 500
    subscribed(server)
    history = requests.get(server.url + "/_standin/deliveries", timeout=30).json()["data"]
    assert [d["status"] for d in history] == [500, 500, 500]
    event = stripe.Event.list(type="checkout.session.completed", **OPTIONS).data[0]
    assert event.pending_webhooks == 1
    receiver.status = 200
    resent = post(server, f"/_standin/events/{event.id}/deliver")
    assert resent["status"] == 200
    assert stripe.Event.retrieve(event.id, **OPTIONS).pending_webhooks == 0


def test_payment_failure_renewal_and_cancellation(server, receiver):
    _, _, sub = subscribed(server)
    item = sub["items"]["data"][0]

    failed = post(server, f"/_standin/subscriptions/{sub.id}/fail_payment")
    assert failed["status"] == "past_due"
    assert failed["items"]["data"][0]["current_period_start"] == item["current_period_end"]
    invoice = stripe.Invoice.retrieve(failed["latest_invoice"], **OPTIONS)
    assert (invoice.status, invoice.attempted, invoice.attempt_count) == ("open", True, 1)
    assert invoice.next_payment_attempt > time.time()
    assert invoice.billing_reason == "subscription_cycle"
    updated = json.loads(receiver.received[-1][1])
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["previous_attributes"]["status"] == "active"

    renewed = post(server, f"/_standin/subscriptions/{sub.id}/renew")
    assert renewed["status"] == "active"
    period = renewed["items"]["data"][0]
    assert period["current_period_start"] == failed["items"]["data"][0]["current_period_end"]
    assert stripe.Invoice.retrieve(renewed["latest_invoice"], **OPTIONS).status == "paid"
    assert stripe.Invoice.retrieve(invoice.id, **OPTIONS).status == "open"

    canceled = stripe.Subscription.cancel(sub.id, **OPTIONS)
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert server.wait_for_webhooks(30)
    assert receiver.types()[-1] == "customer.subscription.deleted"
    assert stripe.Subscription.retrieve(sub.id, **OPTIONS).status == "canceled"
    post(server, f"/_standin/subscriptions/{sub.id}/renew", expect=400)
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.cancel(sub.id, **OPTIONS)


def test_price_change_without_proration_keeps_the_item(server, receiver):
    _, _, sub = subscribed(server)
    growth = stripe.Price.create(
        product="prod_sessions",
        unit_amount=9900,
        currency="usd",
        recurring={"interval": "month"},
        **OPTIONS,
    )
    item = sub["items"]["data"][0]
    invoices_before = len(stripe.Invoice.list(**OPTIONS).data)
    changed = stripe.Subscription.modify(
        sub.id, items=[{"id": item.id, "price": growth.id}], proration_behavior="none", **OPTIONS
    )
    assert changed["items"]["data"][0]["id"] == item.id
    assert changed["items"]["data"][0]["price"]["id"] == growth.id
    assert len(stripe.Invoice.list(**OPTIONS).data) == invoices_before
    assert server.wait_for_webhooks(30)
    assert receiver.types()[-1] == "customer.subscription.updated"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.modify(sub.id, proration_behavior="sometimes", **OPTIONS)


def test_hosted_checkout_page_completes_and_redirects(server, receiver):
    _, price = catalogue()
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id}],
        customer_email="walk-in@example.com",
        success_url="https://portal.test/ok?session={CHECKOUT_SESSION_ID}",
        cancel_url="https://portal.test/cancel",
        **OPTIONS,
    )
    page = requests.get(session.url, timeout=30)
    assert page.status_code == 200
    assert "$29.00" in page.text
    paid = requests.post(session.url, data={"action": "pay"}, allow_redirects=False, timeout=30)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"https://portal.test/ok?session={session.id}"
    done = stripe.checkout.Session.retrieve(session.id, **OPTIONS)
    assert done.status == "complete"
    assert stripe.Customer.retrieve(done.customer, **OPTIONS).email == "walk-in@example.com"
    assert receiver.types()[-1] == "checkout.session.completed"
    assert requests.get(session.url, timeout=30).status_code == 410
    post(server, f"/_standin/checkout/sessions/{session.id}/complete", expect=400)


def test_objects_survive_a_restart_with_a_state_file(tmp_path):
    state = tmp_path / "standin.json"
    first = StripeStandin(state_file=str(state)).start()
    stripe.api_base = first.url
    customer = stripe.Customer.create(email="kept@example.com", **OPTIONS)
    first.stop()
    second = StripeStandin(state_file=str(state)).start()
    stripe.api_base = second.url
    try:
        assert stripe.Customer.retrieve(customer.id, **OPTIONS).email == "kept@example.com"
    finally:
        second.stop()


def test_the_management_command_serves_the_standin():
    port = _free_port()
    command = [sys.executable, "manage.py", "stripe_standin", "--port", str(port)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                info = requests.get(f"http://127.0.0.1:{port}/_standin", timeout=1).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, process.stdout.read1().decode()
                time.sleep(0.2)
        assert info["api_version"] == "2026-05-27.dahlia"
        assert info["webhook_url"] is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_subscription_items_are_listed_and_read_through_their_subscription(server):
    _, _, sub = subscribed(server)
    items = stripe.SubscriptionItem.list(subscription=sub.id, **OPTIONS)
    assert [i.id for i in items.data] == [sub["items"]["data"][0]["id"]]
    assert stripe.SubscriptionItem.retrieve(items.data[0].id, **OPTIONS).subscription == sub.id
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.SubscriptionItem.retrieve("si_nope", **OPTIONS)
    assert raised.value.code == "resource_missing"
    lines = stripe.Invoice.list_lines(sub.latest_invoice, **OPTIONS)
    assert lines.data[0].parent.subscription_item_details.subscription_item == items.data[0].id


def test_latency_delays_the_api_but_not_the_helpers(server):
    stripe.Customer.list(**OPTIONS)  # warm the connection
    server.latency_ms = 300
    started = time.monotonic()
    stripe.Customer.list(**OPTIONS)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert requests.get(server.url + "/_standin", timeout=30).json()["latency_ms"] == 300
    assert time.monotonic() - started < 0.3
    answer = requests.post(server.url + "/_standin/latency", data={"ms": "0"}, timeout=30)
    assert answer.json() == {"latency_ms": 0}
    started = time.monotonic()
    stripe.Customer.list(**OPTIONS)
    assert time.monotonic() - started < 0.3


def test_the_next_calls_fail_as_stripe_fails_then_it_serves_again(server):
    answer = requests.post(
        server.url + "/_standin/fail_next", data={"count": "2", "status": "500"}, timeout=30
    )
    assert answer.json() == {"failing_next": 2, "status": 500}
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            stripe.Customer.create(email="x@example.com", **OPTIONS)
        assert failed.value.http_status == 500
    server.fail_next(1, 429)
    with pytest.raises(stripe.RateLimitError):
        stripe.Customer.list(**OPTIONS)
    assert stripe.Customer.create(email="x@example.com", **OPTIONS).email == "x@example.com"
    assert len(stripe.Customer.list(**OPTIONS).data) == 1  # the failed creates made nothing
    refused = requests.post(server.url + "/_standin/fail_next", data={"status": "418"}, timeout=30)
    assert refused.status_code == 400


def test_a_fail_rate_fails_about_that_share_of_calls():
    standin = StripeStandin(fail_rate=0.5).start()
    try:
        outcomes = []
        for _ in range(200):
            answer = requests.get(standin.url + "/v1/customers", headers=AUTH, timeout=30)
            outcomes.append(answer.status_code)
        failed = outcomes.count(500)
        assert 50 < failed < 150 and outcomes.count(200) == 200 - failed
    finally:
        standin.stop()


def test_the_command_refuses_impossible_faults():
    with pytest.raises(CommandError, match="--fail-rate from 0 to 1"):
        call_command("stripe_standin", "--fail-rate", "2")


def test_only_keys_real_stripe_would_take_are_accepted(server):
    for bad in ("sk_test_anything", "sk_test_" + "x" * 23, "pk_test_" + "x" * 24):
        with pytest.raises(stripe.AuthenticationError):
            stripe.Customer.list(api_key=bad)
    for good in ("sk_test_" + "x" * 24, "rk_test_" + "y" * 30):
        assert stripe.Customer.list(api_key=good).data == []
