"""The Stripe side in the admin: the outbox of subscription price moves, and dj-stripe's
subscriptions, whose cancel action only staff who may change them are offered."""

from __future__ import annotations

from django.contrib import admin, messages
from djstripe.admin.admin import SubscriptionAdmin as DjstripeSubscriptionAdmin
from djstripe.models import Subscription as StripeSubscription

from accounts.admin.readonly import ReadOnlyAdmin
from billing.models import StripePriceMove
from billing.services.stripe_price_moves import price_moves_retry


@admin.register(StripePriceMove)
class StripePriceMoveAdmin(ReadOnlyAdmin):
    """The Stripe price moves outbox, read-only: workers send them; staff retry failed ones."""

    actions = ["send_again"]

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

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_stripepricemove")

    @admin.action(description="Send the failed ones again", permissions=["retry"])
    def send_again(self, request, queryset):
        queued = price_moves_retry(ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"{queued} move(s) queued to be sent again"
            + (
                "."
                if queued
                else "; none could be: only failed moves whose plan has a Stripe price id are."
            ),
            messages.SUCCESS if queued else messages.WARNING,
        )


@admin.action(description="Cancel selected subscriptions", permissions=["change"])
def _cancel(model_admin, request, queryset):
    return DjstripeSubscriptionAdmin._cancel(model_admin, request, queryset)


admin.site.unregister(StripeSubscription)


@admin.register(StripeSubscription)
class SubscriptionAdmin(DjstripeSubscriptionAdmin):
    """dj-stripe's, but its "Cancel selected subscriptions" (which cancels them at Stripe)
    only for staff who may change subscriptions: dj-stripe adds it to everyone's actions."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "_cancel" in actions:
            if self.has_change_permission(request):
                actions["_cancel"] = (_cancel, "_cancel", _cancel.short_description)
            else:
                del actions["_cancel"]
        return actions
