"""`accounts.actors.request_actor`: how audit rows and batches name who made a request."""

import pytest
from django.test import RequestFactory
from django.urls import resolve
from rest_framework.request import Request

from accounts.actors import request_actor
from api.auth import ServiceKeyAuthentication
from tests.accounts.factories import UserFactory
from tests.api.factories import ServiceKeyFactory

pytestmark = pytest.mark.django_db


def resolved(path: str, user=None, **headers):
    """A GET of `path` as the URL resolver leaves it for the view, made by `user`."""
    request = RequestFactory().get(path, **headers)
    request.resolver_match = resolve(path)
    if user is not None:
        request.user = user
    return request


def test_a_service_key_is_named_by_its_key():
    ServiceKeyFactory(name="proxy-production", raw_key="aig_the-proxys-own-key")
    request = Request(
        resolved("/billing/usage", HTTP_AUTHORIZATION="Bearer aig_the-proxys-own-key"),
        authenticators=[ServiceKeyAuthentication()],
    )
    assert request_actor(request) == "service key proxy-production"


def test_staff_in_the_admin_are_admin_and_their_username():
    olivia = UserFactory(username="olivia", is_staff=True)
    assert request_actor(resolved("/admin/accounts/customer/", olivia)) == "admin:olivia"


def test_staff_outside_the_admin_are_their_username():
    olivia = UserFactory(username="olivia", is_staff=True)
    assert request_actor(resolved("/billing/usage", olivia)) == "olivia"


def test_a_signed_in_customer_is_its_username(customer_on):
    customer = customer_on("starter", user=UserFactory(username="alice-login"))
    assert request_actor(resolved("/billing/subscription", customer.user)) == "alice-login"
