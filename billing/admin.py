"""The Stripe side in the admin: the outbox of subscription price moves, and dj-stripe's mirror
of Stripe's objects, whose actions need the change permission."""

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


def _actions_need_change_permission() -> None:
    """dj-stripe's admin actions ("resync", "sync all") call Stripe and write the mirror, but
    declare no permission, which Django reads as "anyone who may view". Require change."""
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "djstripe":
            continue
        for action in model_admin.actions or ():
            function = getattr(model_admin, action) if isinstance(action, str) else action
            function = getattr(function, "__func__", function)
            if not getattr(function, "allowed_permissions", None):
                function.allowed_permissions = ("change",)


_actions_need_change_permission()


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
