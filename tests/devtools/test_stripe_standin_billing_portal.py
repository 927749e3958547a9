"""The stand-in's billing portal on its own: the session object, its validation, the page's
actions and the events they send (received by a plain webhook receiver)."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from devtools.stripe_standin import StripeStandin
from tests.devtools.test_stripe_standin import (
    OPTIONS,
    SAMPLES,
    post,
    subscribed,
)


def portal(server, customer_id: str, **params):
    return stripe.billing_portal.Session.create(customer=customer_id, **params, **OPTIONS)


def test_the_session_has_the_keys_of_stripes_sample_and_a_page(server):
    customer = stripe.Customer.create(email="a@example.com", **OPTIONS)
    session = portal(server, customer.id, return_url="https://portal.test/usage")
    assert set(session.keys()) == set(SAMPLES["billing_portal.session"].keys())
    assert session.object == "billing_portal.session"
    assert session.id.startswith("bps_")
    assert (session.customer, session.return_url) == (customer.id, "https://portal.test/usage")
    assert session.url == f"{server.url}/p/session/{session.id}"
    page = requests.get(session.url, timeout=30)
    assert page.status_code == 200
    assert "No active subscription." in page.text
    assert "href='https://portal.test/usage'" in page.text


def test_a_session_needs_a_known_customer_and_a_url_to_return_to(server):
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: customer"):
        stripe.billing_portal.Session.create(**OPTIONS)
    with pytest.raises(stripe.InvalidRequestError, match="No such customer"):
        portal(server, "cus_nobody")
    customer = stripe.Customer.create(**OPTIONS)
    with pytest.raises(stripe.InvalidRequestError, match="Not a valid URL") as refused:
        portal(server, customer.id, return_url="javascript:alert(1)")
    assert refused.value.param == "return_url"


def test_the_page_escapes_what_it_shows(server):
    customer = stripe.Customer.create(email="<script>x</script>@example.com", **OPTIONS)
    session = portal(server, customer.id, return_url="https://portal.test/'><b>")
    page = requests.get(session.url, timeout=30).text
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;" in page
    assert "'><b>" not in page


def test_a_new_card_pays_the_open_invoice_and_reactivates(server, receiver):
    customer, _, sub = subscribed(server)
    post(server, f"/_standin/subscriptions/{sub.id}/fail_payment")
    assert stripe.Subscription.retrieve(sub.id, **OPTIONS).status == "past_due"
    session = portal(server, customer.id)
    sent = len(receiver.received)

    answer = requests.post(
        f"{session.url}/card", data={"card": "4242424242424242"}, allow_redirects=False, timeout=30
    )

    assert answer.status_code == 303
    assert receiver.types()[sent:] == ["invoice.payment_succeeded", "customer.subscription.updated"]
    updated = json.loads(receiver.received[-1][1])["data"]
    assert updated["object"]["status"] == "active"
    assert updated["previous_attributes"] == {"status": "past_due"}
    invoices = stripe.Invoice.list(customer=customer.id, **OPTIONS).data
    assert [i.status for i in invoices] == ["paid", "paid"]
    assert all(i.amount_remaining == 0 for i in invoices)


def test_cancel_keep_and_the_period_end(server, receiver):
    customer, _, sub = subscribed(server)
    session = portal(server, customer.id)
    end = sub["items"]["data"][0]["current_period_end"]

    def act(action):
        answer = requests.post(
            f"{session.url}/{action}",
            data={"subscription": sub.id},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 303, answer.text
        return stripe.Subscription.retrieve(sub.id, **OPTIONS)

    canceled = act("cancel")
    assert (canceled.status, canceled.cancel_at_period_end, canceled.cancel_at) == (
        "active",
        True,
        end,
    )
    assert canceled.cancellation_details.reason == "cancellation_requested"
    kept = act("keep")
    assert (kept.cancel_at_period_end, kept.cancel_at, kept.canceled_at) == (False, None, None)
    act("cancel")
    assert receiver.types()[-3:] == ["customer.subscription.updated"] * 3

    ended = post(server, f"/_standin/subscriptions/{sub.id}/period_end")

    assert (ended["status"], ended["ended_at"]) == ("canceled", end)
    assert receiver.types()[-1] == "customer.subscription.deleted"
    # Nothing left to end or to cancel.
    post(server, f"/_standin/subscriptions/{sub.id}/period_end", expect=400)
    again = requests.post(f"{session.url}/cancel", data={"subscription": sub.id}, timeout=30)
    assert again.status_code == 402 and "This subscription is canceled." in again.text


def test_portal_sessions_survive_a_restart_with_a_state_file(tmp_path):
    state = tmp_path / "standin.json"
    first = StripeStandin(state_file=str(state)).start()
    stripe.api_base = first.url
    customer = stripe.Customer.create(**OPTIONS)
    session = portal(first, customer.id)
    first.stop()
    second = StripeStandin(state_file=str(state)).start()
    try:
        assert requests.get(f"{second.url}/p/session/{session.id}", timeout=30).status_code == 200
    finally:
        second.stop()
