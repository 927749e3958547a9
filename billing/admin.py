"""The Stripe side in the admin: the outbox of subscription price moves."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin.readonly import ReadOnlyAdmin
from billing.models import StripePriceMove


@admin.register(StripePriceMove)
class StripePriceMoveAdmin(ReadOnlyAdmin):
    """The Stripe price moves outbox, read-only: `manage.py stripe_price_moves` sends them."""

    list_display = [
        "id",
        "batch",
        "subscription_id",
        "from_price_id",
        "to_price_id",
        "status",
        "attempts",
        "last_error",
        "updated_at",
    ]
    list_filter = ["status"]
    search_fields = ["subscription_id", "=batch__id"]
    list_select_related = ["batch"]
