"""What a customer does in Stripe's billing portal (the stand-in's page, over HTTP) reaches us
through the usual signed webhooks: a new card pays the open invoice and `past_due` clears; a
cancellation runs to the period's end, when the subscription is deleted and the customer falls
back to Free. dj-stripe's mirror holds the invoices the usage page lists.

Events are held and delivered by the test (on SQLite the live server shares the test's
connection); `deliver_new` asserts each delivery got 200.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from djstripe.models import Invoice as StripeInvoice
from djstripe.models import Subscription as StripeSubscription

from accounts.models import ChangeSource, Customer, CustomerStatus
from billing.selectors import customer_invoices, subscription_cancels_at
from tests.support.pages import customer_with_login
from tests.support.stripe import Helpers, audit, deliver_new, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def portal_url(api, user_id: str) -> str:
    response = api.post("/billing/portal", {"user_id": user_id}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["url"]


def submit(url: str, action: str, **form) -> requests.Response:
    return requests.post(f"{url}/{action}", data=form, allow_redirects=False, timeout=60)


def mirrored_invoices(customer: Customer) -> list[tuple[str, int]]:
    rows = StripeInvoice.objects.filter(customer_id=customer.stripe_customer_id)
    return sorted((row.stripe_data["status"], row.stripe_data["total"]) for row in rows)


def past_due(api, standin, user_id: str) -> str:
    customer_with_login("free", username=user_id, email=f"{user_id}@example.com")
    subscription = subscribed(api, standin, user_id)
    mark = standin.event_count()
    Helpers(standin).fail_payment(subscription)
    deliver_new(standin, since=mark)
    assert Customer.objects.get(external_id=user_id).status == CustomerStatus.PAST_DUE
    return subscription


def test_a_new_card_pays_the_open_invoice_and_past_due_clears(api, held_standin):
    subscription = past_due(api, held_standin, "alice")
    alice = Customer.objects.get(external_id="alice")
    assert mirrored_invoices(alice) == [("open", 2900), ("paid", 2900)]
    url = portal_url(api, "alice")
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    assert "1 open invoice: $29.00 due" in page.text
    assert "Past due" in page.text
    mark, audit_mark = held_standin.event_count(), alice.plan_changes.order_by("-pk").first().pk

    answer = submit(url, "card", card="4242 4242 4242 4242")

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("?done=card")
    assert deliver_new(held_standin, since=mark) == [
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]
    alice.refresh_from_db()
    assert (alice.plan.code, alice.status) == ("starter", CustomerStatus.ACTIVE)
    assert mirrored_invoices(alice) == [("paid", 2900), ("paid", 2900)]
    assert audit("alice", after=audit_mark) == [
        ("starter", "starter", ChangeSource.WEBHOOK, "stripe")
    ]
    assert StripeSubscription.objects.get(id=subscription).stripe_data["status"] == "active"
    after = requests.get(url + "?done=card", timeout=30).text
    assert "Your payment method is updated" in after
    assert "open invoice" not in after


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000 0000 0000 0002", "Your card was declined."),
        ("4000 0000 0000 9995", "Your card has insufficient funds."),
        ("1234 5678", "Your card number is invalid."),
    ],
)
def test_a_declined_card_changes_nothing(api, held_standin, card, message):
    past_due(api, held_standin, "alice")
    url = portal_url(api, "alice")
    mark = held_standin.event_count()

    answer = submit(url, "card", card=card)

    assert answer.status_code == 402
    assert message in answer.text
    assert held_standin.event_count() == mark
    alice = Customer.objects.get(external_id="alice")
    assert alice.status == CustomerStatus.PAST_DUE


def test_cancel_runs_to_the_period_end_then_the_customer_falls_back_to_free(api, held_standin):
    customer_with_login("free", username="bob", email="bob@example.com")
    subscription = subscribed(api, held_standin, "bob")
    bob = Customer.objects.get(external_id="bob")
    period_end = StripeSubscription.objects.get(id=subscription).stripe_data["items"]["data"][0][
        "current_period_end"
    ]
    url = portal_url(api, "bob")
    mark = held_standin.event_count()

    assert submit(url, "cancel", subscription=subscription).status_code == 303
    assert deliver_new(held_standin, since=mark) == ["customer.subscription.updated"]
    bob.refresh_from_db()
    assert (bob.plan.code, bob.status) == ("starter", CustomerStatus.ACTIVE)
    assert subscription_cancels_at(customer=bob) == datetime.fromtimestamp(period_end, UTC)
    assert "Cancels on" in requests.get(url, timeout=30).text

    # "Don't cancel" takes it back; then cancel again for good.
    mark = held_standin.event_count()
    assert submit(url, "keep", subscription=subscription).status_code == 303
    deliver_new(held_standin, since=mark)
    assert subscription_cancels_at(customer=bob) is None
    mark = held_standin.event_count()
    assert submit(url, "cancel", subscription=subscription).status_code == 303
    deliver_new(held_standin, since=mark)

    mark = held_standin.event_count()
    Helpers(held_standin).post(f"/_standin/subscriptions/{subscription}/period_end")
    assert deliver_new(held_standin, since=mark) == ["customer.subscription.deleted"]
    bob.refresh_from_db()
    assert (bob.plan.code, bob.status) == ("free", CustomerStatus.CANCELED)
    assert subscription_cancels_at(customer=bob) is None
    # The paid invoice stays readable, and the portal still opens for the ended subscription.
    assert [row.status for row in customer_invoices(customer=bob)] == ["paid"]
    assert requests.get(portal_url(api, "bob"), timeout=30).status_code == 200


def test_period_end_renews_a_subscription_not_set_to_cancel(api, held_standin):
    customer_with_login("free", username="bob", email="bob@example.com")
    subscription = subscribed(api, held_standin, "bob")
    mark = held_standin.event_count()
    renewed = Helpers(held_standin).post(f"/_standin/subscriptions/{subscription}/period_end")
    assert renewed["status"] == "active"
    assert "customer.subscription.updated" in deliver_new(held_standin, since=mark)
    bob = Customer.objects.get(external_id="bob")
    assert mirrored_invoices(bob) == [("paid", 2900), ("paid", 2900)]


def test_one_customers_portal_cannot_touch_anothers_subscription(api, held_standin):
    customer_with_login("free", username="alice", email="alice@example.com")
    customer_with_login("free", username="bob", email="bob@example.com")
    subscribed(api, held_standin, "alice")
    bobs = subscribed(api, held_standin, "bob")
    url = portal_url(api, "alice")
    mark = held_standin.event_count()

    answer = submit(url, "cancel", subscription=bobs)

    assert answer.status_code == 402  # the page again, with the error
    assert "No such subscription" in answer.text
    assert held_standin.event_count() == mark
    assert "bob@example.com" not in requests.get(url, timeout=30).text


def test_an_unknown_portal_session_is_a_404_page(held_standin):
    answer = requests.get(f"{held_standin.url}/p/session/bps_nope", timeout=30)
    assert answer.status_code == 404
    assert "not valid" in answer.text
    assert submit(f"{held_standin.url}/p/session/bps_nope", "card").status_code == 404
