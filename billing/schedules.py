"""Stripe's scheduled jobs (registered when the app is ready)."""

from datetime import time, timedelta

from accounts.schedule import scheduled
from billing.services.reconcile import reconcile_with_stripe
from billing.services.stripe_price_moves import send_price_moves
from billing.webhooks import retry_stripe_events

# Moves left pending (Stripe unreachable, 429, 5xx) are sent again.
scheduled("stripe-price-moves", send_price_moves, every=timedelta(minutes=5))
# Verified Stripe deliveries whose processing failed (or whose task was lost) are processed
# again, for three days.
scheduled("stripe-events-retry", retry_stripe_events, every=timedelta(minutes=5))
# Drift from Stripe (a lost webhook, a change in Stripe's dashboard) is reported daily.
scheduled("stripe-reconcile", reconcile_with_stripe, at=time(3, 0))
