"""Stripe's scheduled jobs (registered when the app is ready)."""

from datetime import timedelta

from accounts.schedule import scheduled
from billing.services.stripe_price_moves import send_price_moves

# Moves left pending (Stripe unreachable, 429, 5xx) are sent again.
scheduled("stripe-price-moves", send_price_moves, every=timedelta(minutes=5))
