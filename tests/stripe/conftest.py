"""Stripe test fixtures: the real stripe client and dj-stripe talk HTTP to a local stand-in.

Nothing patches the stripe library. Every test starts with `stripe.api_base` on a closed
port, so a call that was not pointed at a stand-in fails at once instead of leaving the
machine; `standin` fixtures point it at their own stand-in and restore it afterwards.
"""

from __future__ import annotations

import pytest
import requests
import stripe
from django.conf import settings
from django.core.management import call_command

from devtools.stripe_standin import StripeStandin

WEBHOOK_PATH = "/webhooks/stripe"


@pytest.fixture(autouse=True)
def _stripe_offline():
    saved = stripe.api_base, stripe.max_network_retries
    stripe.api_base = "http://127.0.0.1:9"
    stripe.max_network_retries = 0
    yield
    stripe.api_base, stripe.max_network_retries = saved


def _serve(**kwargs) -> StripeStandin:
    standin = StripeStandin(**kwargs).start()
    stripe.api_base = standin.url
    return standin


@pytest.fixture
def standin():
    """A stand-in that keeps its events (no webhook URL): tests post them themselves."""
    server = _serve()
    yield server
    server.stop()


@pytest.fixture
def live_standin(live_server):
    """A stand-in that delivers signed events to this test run's live server."""
    server = _serve(
        webhook_url=live_server.url + WEBHOOK_PATH, webhook_secret=settings.STRIPE_WEBHOOK_SECRET
    )
    yield server
    server.stop()


@pytest.fixture
def held_standin(live_server):
    """Like `live_standin`, but events wait until the test delivers them (`deliver(id)`)."""
    server = _serve(
        webhook_url=live_server.url + WEBHOOK_PATH,
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        auto_deliver=False,
    )
    yield server
    server.stop()


def stripe_products() -> None:
    """Products and prices in the stand-in, plans linked to them (the real command)."""
    call_command("stripe_setup_products", "--output", "/dev/null", stdout=_Quiet())


class _Quiet:
    def write(self, *args, **kwargs):
        pass

    def flush(self):
        pass


class Helpers:
    """The stand-in's test helpers, over HTTP like any client."""

    def __init__(self, standin: StripeStandin):
        self.standin = standin

    def post(self, path: str, **data) -> dict:
        response = requests.post(self.standin.url + path, data=data, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def complete(self, session_id: str) -> dict:
        return self.post(f"/_standin/checkout/sessions/{session_id}/complete")

    def fail_payment(self, subscription_id: str) -> dict:
        return self.post(f"/_standin/subscriptions/{subscription_id}/fail_payment")

    def renew(self, subscription_id: str) -> dict:
        return self.post(f"/_standin/subscriptions/{subscription_id}/renew")

    def cancel(self, subscription_id: str) -> dict:
        """Stripe's own `DELETE /v1/subscriptions/<id>` (as the dashboard does)."""
        canceled = stripe.Subscription.cancel(
            subscription_id,
            api_key=settings.STRIPE_SECRET_KEY,
            stripe_version=settings.STRIPE_API_VERSION,
        )
        assert self.standin.wait_for_webhooks(60)
        return canceled
