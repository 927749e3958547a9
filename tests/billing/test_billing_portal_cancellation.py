"""Cancelling, or keeping, a subscription in Stripe's billing portal (`subscription_state_apply`
follows `cancel_at_period_end`): our move to Free at the period's end is scheduled or dropped to
match, so that resuming, switching and cancelling from our pages act on Stripe's real state, and
nothing is sent back to Stripe for what it already says."""

from __future__ import annotations

import pytest
import requests
import stripe

from accounts.models import ChangeSource, Customer, PlanChange
from billing.models import StripeAction, StripePriceMove
from tests.support.pages import customer_with_login
from tests.support.stripe import OPTIONS, Helpers, deliver_new, subscribed

pytestmark = pytest.mark.django_db(transaction=True)


def in_the_portal(api, standin, user_id: str, subscription: str, what: str) -> None:
    """The customer presses "cancel" or "keep" (renew) in Stripe's billing portal."""
    url = api.post("/billing/portal", {"user_id": user_id}, format="json").json()["url"]
    mark = standin.event_count()
    answer = requests.post(
        f"{url}/{what}", data={"subscription": subscription}, allow_redirects=False, timeout=60
    )
    assert answer.status_code == 303
    deliver_new(standin, since=mark)


def cancels_at_period_end(subscription: str) -> bool:
    return stripe.Subscription.retrieve(subscription, **OPTIONS)["cancel_at_period_end"]


def test_a_cancel_in_the_portal_schedules_the_move_to_free_and_resume_undoes_it(api, held_standin):
    customer_with_login("free", username="bob", email="bob@example.com")
    subscription = subscribed(api, held_standin, "bob")

    in_the_portal(api, held_standin, "bob", subscription, "cancel")

    bob = Customer.objects.select_related("pending_plan").get(external_id="bob")
    assert (bob.plan.code, bob.pending_plan.code) == ("starter", "free")
    change = PlanChange.objects.filter(customer=bob).latest("id")
    assert change.source == ChangeSource.WEBHOOK
    assert "set to cancel at the end of its period" in change.reason
    # Stripe said so itself: nothing is queued to tell it again.
    assert not StripePriceMove.objects.filter(action=StripeAction.CANCEL_AT_PERIOD_END).exists()

    mark = held_standin.event_count()
    response = api.post("/billing/subscription/resume", {"user_id": "bob"}, format="json")
    assert response.status_code == 200, response.content
    deliver_new(held_standin, since=mark)
    assert cancels_at_period_end(subscription) is False


def test_a_switch_after_a_cancel_in_the_portal_keeps_the_subscription(api, held_standin):
    customer_with_login("free", username="carl", email="carl@example.com")
    subscription = subscribed(api, held_standin, "carl")
    in_the_portal(api, held_standin, "carl", subscription, "cancel")

    mark = held_standin.event_count()
    response = api.post(
        "/billing/subscription", {"user_id": "carl", "plan": "growth"}, format="json"
    )
    assert response.status_code == 200, response.content
    deliver_new(held_standin, since=mark)

    assert cancels_at_period_end(subscription) is False
    carl = Customer.objects.get(external_id="carl")
    assert (carl.plan.code, carl.pending_plan_id) == ("growth", None)


def test_keep_in_the_portal_after_our_cancel_drops_the_move_to_free(api, held_standin):
    customer_with_login("free", username="eve", email="eve@example.com")
    subscription = subscribed(api, held_standin, "eve")
    mark = held_standin.event_count()
    cancel = api.post("/billing/subscription/cancel", {"user_id": "eve"}, format="json")
    assert cancel.status_code == 200
    deliver_new(held_standin, since=mark)
    assert cancels_at_period_end(subscription) is True

    in_the_portal(api, held_standin, "eve", subscription, "keep")
    mark = held_standin.event_count()
    Helpers(held_standin).renew(subscription)
    deliver_new(held_standin, since=mark)

    eve = Customer.objects.get(external_id="eve")
    assert (eve.plan.code, eve.pending_plan_id) == ("starter", None)
    assert cancels_at_period_end(subscription) is False
    # And the customer can cancel from our pages again.
    again = api.post("/billing/subscription/cancel", {"user_id": "eve"}, format="json")
    assert again.status_code == 200
