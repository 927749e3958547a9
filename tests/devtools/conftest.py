"""The stand-in on its own, with a plain webhook receiver (no Django endpoint behind it)."""

from __future__ import annotations

import pytest
import stripe

from devtools.stripe_standin import StripeStandin
from tests.devtools.test_stripe_standin import SECRET, Receiver


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def server(receiver):
    standin = StripeStandin(webhook_url=receiver.url, webhook_secret=SECRET).start()
    stripe.api_base = standin.url
    yield standin
    standin.stop()
