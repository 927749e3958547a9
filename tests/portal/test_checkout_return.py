import pytest
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import UserFactory
from tests.support.pages import customer_with_login, signed_in, text

pytestmark = pytest.mark.django_db


def test_url_names_the_checkout_service_uses():
    assert reverse("billing-checkout-success") == "/billing/success/"
    assert reverse("billing-checkout-cancel") == "/billing/cancel/"


@pytest.mark.parametrize("url", ["/billing/success/", "/billing/cancel/"])
def test_return_pages_need_a_sign_in(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_success_once_the_plan_has_changed():
    alice = customer_with_login("growth", username="alice")
    html = signed_in(alice).get("/billing/success/", {"plan": "growth"}).content.decode()
    assert "You are on Growth" in text(html)
    assert "your payment went through and your plan is active" in text(html)
    assert "20,000 sessions / month" in text(html)
    assert "checkout-success.js" not in html


def test_success_before_the_webhook_says_the_plan_is_on_its_way():
    alice = customer_with_login("starter", username="alice")
    response = signed_in(alice).get(
        "/billing/success/", {"plan": "growth", "session_id": "cs_test_123"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Payment received" in text(html)
    assert "We are switching you to Growth." in text(html)
    assert "Until then you are on Starter." in text(html)
    assert 'data-wait-for-plan="growth"' in html
    assert 'data-usage-endpoint="/billing/usage"' in html
    assert "/static/js/checkout-success.js" in html


def test_success_ignores_a_plan_that_is_not_for_sale():
    alice = customer_with_login("starter", username="alice")
    html = signed_in(alice).get("/billing/success/", {"plan": "legacy_pro"}).content.decode()
    assert "You are on Starter" in text(html)
    assert "data-wait-for-plan" not in html


def test_cancel_says_nothing_was_charged():
    alice = customer_with_login("starter", username="alice")
    html = signed_in(alice).get("/billing/cancel/").content.decode()
    assert "Checkout canceled" in text(html)
    assert "Nothing was charged. You are still on Starter." in text(html)


def test_return_pages_for_a_login_without_customer():
    client = Client()
    client.force_login(UserFactory(username="nobody"))
    assert client.get("/billing/success/").status_code == 403
    assert client.get("/billing/cancel/").status_code == 403


def test_success_after_a_subscription_switch_says_nothing_was_paid_today():
    alice = customer_with_login("growth", username="alice")
    html = (
        signed_in(alice)
        .get("/billing/success/", {"plan": "growth", "change": "switch"})
        .content.decode()
    )
    assert "<title>Plan switched" in html
    assert "You are on Growth" in text(html)
    assert "Your subscription is switched and your new limits apply now." in text(html)
    assert "payment went through" not in text(html)
    assert "prorated difference (or credit) appears on your next invoice" in text(html)
