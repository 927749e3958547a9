"""`POST /billing/subscription`: a subscriber switches its live subscription to another plan.

End to end through the stand-in: the real stripe client and dj-stripe over HTTP, webhooks
signed as Stripe signs them. Events are held and delivered by the test once the request has
returned: on SQLite the live server shares the test's connection (see
`test_subscription_change_price.py`).
"""

from __future__ import annotations

import pytest
import stripe
from django.utils import timezone
from djstripe.models import Subscription as StripeSubscription
from rest_framework.test import APIClient

from accounts.models import ChangeSource, Customer, PlanChange
from tests.accounts.factories import plan
from tests.support.pages import customer_with_login, set_month_usage
from tests.support.stripe import (
    Helpers,
    audit,
    changes_to,
    deliver_new,
    price_at_stripe,
    subscribed,
)

URL = "/billing/subscription"


def as_customer(customer: Customer) -> APIClient:
    client = APIClient()
    client.force_login(customer.user)
    return client


def newest_change_id() -> int:
    return PlanChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.mark.django_db(transaction=True)
class TestSwitch:
    def test_starter_subscriber_upgrades_to_growth_now_with_proration(self, api, held_standin):
        alice = customer_with_login("free", username="alice")
        subscription = subscribed(api, held_standin, "alice")
        mark, events = newest_change_id(), held_standin.event_count()

        response = as_customer(alice).post(URL, {"plan": "growth"}, format="json")

        assert response.status_code == 200, response.content
        assert response.json() == {
            "plan": "growth",
            "status": "active",
            "direction": "upgrade",
            "subscriptionId": subscription,
            "prorationBehavior": "create_prorations",
        }
        # Stripe: the same subscription, now on Growth's price, the proration asked for.
        growth_price = plan("growth").stripe_price_id
        assert price_at_stripe(subscription) == growth_price
        [change] = changes_to(subscription, held_standin)
        assert change["params"]["proration_behavior"] == "create_prorations"
        assert change["params"]["items"][0]["price"] == growth_price
        assert change["idempotency_key"].startswith(f"plan-switch-{alice.pk}-{subscription}-")
        # Ours, at once (before any webhook): one audit row, attributed to the customer.
        assert audit("alice", after=mark) == [("starter", "growth", ChangeSource.API, "alice")]
        usage = api.get("/billing/usage", {"user_id": "alice"}).json()
        assert (usage["plan"], usage["sessionsIncluded"], usage["status"]) == (
            "growth",
            20000,
            "active",
        )
        synced = StripeSubscription.objects.get(id=subscription)
        assert synced.stripe_data["items"]["data"][0]["price"]["id"] == growth_price

        # Stripe's webhook about the same change, then the same event again: nothing more.
        assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
        assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
        alice.refresh_from_db()
        assert (alice.plan.code, alice.status) == ("growth", "active")
        assert audit("alice", after=mark) == [("starter", "growth", ChangeSource.API, "alice")]

    def test_service_key_downgrades_growth_to_starter_with_a_credit(self, api, held_standin):
        subscription = subscribed(api, held_standin, "bob", "growth")
        mark, events = newest_change_id(), held_standin.event_count()

        response = api.post(URL, {"plan": "starter", "user_id": "bob"}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["plan"], body["status"], body["direction"]) == (
            "starter",
            "active",
            "downgrade",
        )
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id
        [change] = changes_to(subscription, held_standin)
        assert change["params"]["proration_behavior"] == "create_prorations"
        assert audit("bob", after=mark) == [
            ("growth", "starter", ChangeSource.API, "service key tests")
        ]
        assert deliver_new(held_standin, since=events) == ["customer.subscription.updated"]
        assert Customer.objects.get(external_id="bob").plan.code == "starter"
        assert len(audit("bob", after=mark)) == 1

    def test_switching_back_and_forth_never_replays_an_old_answer(self, api, held_standin):
        subscription = subscribed(api, held_standin, "carol")
        prices = {code: plan(code).stripe_price_id for code in ("starter", "growth")}
        for code in ("growth", "starter", "growth"):
            response = api.post(URL, {"plan": code, "user_id": "carol"}, format="json")
            assert response.status_code == 200, response.content
            assert response.json()["plan"] == code
            assert price_at_stripe(subscription) == prices[code]
        keys = [change["idempotency_key"] for change in changes_to(subscription, held_standin)]
        assert len(keys) == len(set(keys)) == 3
        assert [row[:2] for row in audit("carol")][-3:] == [
            ("starter", "growth"),
            ("growth", "starter"),
            ("starter", "growth"),
        ]

    def test_downgrade_refused_when_this_months_sessions_do_not_fit(self, api, held_standin):
        subscription = subscribed(api, held_standin, "dan", "growth")
        dan = Customer.objects.get(external_id="dan")
        set_month_usage(dan, sessions=6000, now=timezone.now())
        mark = newest_change_id()

        response = api.post(URL, {"plan": "starter", "user_id": "dan"}, format="json")

        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "usage_over_plan"
        assert (body["sessionsUsed"], body["sessionsIncluded"]) == (6000, 5000)
        assert "6,000 sessions" in body["detail"]
        assert changes_to(subscription, held_standin) == []
        assert price_at_stripe(subscription) == plan("growth").stripe_price_id
        assert Customer.objects.get(external_id="dan").plan.code == "growth"
        assert audit("dan", after=mark) == []
        # Its preview is refused alike, before Stripe is asked.
        preview = api.get("/billing/subscription/preview", {"plan": "starter", "user_id": "dan"})
        assert (preview.status_code, preview.json()["code"]) == (409, "usage_over_plan")

    def test_past_due_subscription_is_not_switched(self, api, held_standin):
        subscription = subscribed(api, held_standin, "erin")
        mark = held_standin.event_count()
        Helpers(held_standin).fail_payment(subscription)
        deliver_new(held_standin, since=mark)
        assert Customer.objects.get(external_id="erin").status == "past_due"

        response = api.post(URL, {"plan": "growth", "user_id": "erin"}, format="json")

        assert response.status_code == 409
        assert response.json()["code"] == "past_due"
        assert changes_to(subscription, held_standin) == []
        assert Customer.objects.get(external_id="erin").plan.code == "starter"

    def test_stripe_unreachable_is_503_and_nothing_changes(self, api, held_standin):
        subscription = subscribed(api, held_standin, "fay")
        before = list(Customer.objects.filter(external_id="fay").values())
        mark = newest_change_id()
        stripe.api_base = "http://127.0.0.1:9"  # Stripe down (the fixture restores it)

        response = api.post(URL, {"plan": "growth", "user_id": "fay"}, format="json")

        assert response.status_code == 503
        assert response.json()["code"] == "stripe_unavailable"
        assert list(Customer.objects.filter(external_id="fay").values()) == before
        assert audit("fay", after=mark) == []
        synced = StripeSubscription.objects.get(id=subscription)
        assert synced.stripe_data["items"]["data"][0]["price"]["id"] == (
            plan("starter").stripe_price_id
        )
        stripe.api_base = held_standin.url
        assert changes_to(subscription, held_standin) == []
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id


# --- refusals that never reach Stripe (it is offline here: a call would answer 503) -------


@pytest.mark.django_db
def test_no_live_subscription_is_409_telling_to_use_checkout(api, customer_on):
    customer_on("starter", external_id="gus")  # e.g. set by staff: no subscription
    customer_on("starter", external_id="hal", stripe_subscription_id="sub_1", status="canceled")
    for user_id in ("gus", "hal"):
        response = api.post(URL, {"plan": "growth", "user_id": user_id}, format="json")
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "no_subscription"
        assert "/billing/checkout" in body["detail"]
    assert Customer.objects.get(external_id="gus").plan.code == "starter"


@pytest.mark.django_db
def test_already_on_that_plan_is_409_conflict(api, customer_on):
    customer_on(
        "growth", external_id="ivy", stripe_customer_id="cus_1", stripe_subscription_id="sub_1"
    )
    response = api.post(URL, {"plan": "growth", "user_id": "ivy"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["free", "legacy_pro", "platinum"])
def test_free_legacy_or_unknown_plan_is_400(api, customer_on, code):
    customer_on(
        "starter", external_id="jo", stripe_customer_id="cus_1", stripe_subscription_id="sub_1"
    )
    response = api.post(URL, {"plan": code, "user_id": "jo"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Customer.objects.get(external_id="jo").plan.code == "starter"


@pytest.mark.django_db
def test_a_customer_may_not_switch_another_customers_plan(customer_on):
    customer_on(
        "starter", external_id="kim", stripe_customer_id="cus_1", stripe_subscription_id="sub_1"
    )
    lee = customer_with_login("starter", username="lee")
    response = as_customer(lee).post(URL, {"plan": "growth", "user_id": "kim"}, format="json")
    assert response.status_code == 403
    assert set(response.json()) == {"code", "detail"}
    assert Customer.objects.get(external_id="kim").plan.code == "starter"
    assert PlanChange.objects.filter(customer__external_id="kim").count() == 0


@pytest.mark.django_db
def test_service_key_needs_a_known_user_id(api):
    response = api.post(URL, {"plan": "growth"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    response = api.post(URL, {"plan": "growth", "user_id": "nobody"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not Customer.objects.filter(external_id="nobody").exists()


@pytest.mark.django_db
def test_anonymous_is_refused(anon):
    response = anon.post(URL, {"plan": "growth", "user_id": "kim"}, format="json")
    assert response.status_code in (401, 403)
    assert "code" in response.json()


@pytest.mark.django_db
def test_documented_in_the_openapi_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/billing/subscription"]["post"]
    assert {"200", "400", "403", "409", "503"} <= set(operation["responses"])
    assert "no_subscription" in operation["description"]
