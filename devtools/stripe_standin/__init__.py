"""A local stand-in for Stripe's API: a development and test tool, never on a production path.

It speaks Stripe's REST API over HTTP (form-encoded requests, JSON answers shaped like API
version 2026-05-27.dahlia) for everything stripe-python and dj-stripe call in the portal's
flows, keeps its objects in memory, and signs the events it sends to a webhook URL exactly as
Stripe does. Test helpers under `/_standin/` play the customer and the calendar: complete a
Checkout Session, fail or renew a subscription's payment. `python manage.py stripe_standin`
serves it; tests start it in a thread (`StripeStandin(...).start()`).
"""

from devtools.stripe_standin.delivery import DEFAULT_ENABLED_EVENTS, signature_header
from devtools.stripe_standin.server import StripeStandin

__all__ = ["DEFAULT_ENABLED_EVENTS", "StripeStandin", "signature_header"]
