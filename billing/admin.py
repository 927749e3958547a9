"""The Stripe side in the admin: the outbox of subscription price moves, the ledger of Stripe's
webhook deliveries (with replay), and dj-stripe's subscriptions, whose cancel action only
staff who may change them are offered."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import escape
from django.utils.safestring import mark_safe
from djstripe.admin.admin import SubscriptionAdmin as DjstripeSubscriptionAdmin
from djstripe.models import Subscription as StripeSubscription
from djstripe.models import WebhookEventTrigger

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.formatting import moment, shortened
from accounts.models import Customer
from billing.models import StripePriceMove
from billing.services.stripe_price_moves import price_moves_retry
from billing.services.subscriptions import stripe_customer_of
from billing.webhooks import stripe_events_replay


@admin.register(StripePriceMove)
class StripePriceMoveAdmin(ReadOnlyAdmin):
    """The Stripe price moves outbox, read-only: workers send them; staff retry failed ones."""

    empty_list_help = (
        "A price move is queued when a plan change moves a Stripe subscription to its new "
        "plan's price; a worker sends it."
    )

    actions = ["send_again"]

    # Fits 1280 px: the move in plan names; price ids and the whole error on each move's page.
    list_display = [
        "updated_at",
        "subscription_id",
        "move",
        "batch",
        "status",
        "attempts",
        "error_start",
    ]
    list_filter = ["status"]
    search_fields = ["subscription_id", "=batch__id"]
    list_select_related = ["batch", "plan_change__from_plan", "plan_change__to_plan"]

    @admin.display(description="move")
    def move(self, move: StripePriceMove) -> str:
        return move.plan_change.move_label

    @admin.display(description="error")
    def error_start(self, move: StripePriceMove) -> str:
        return shortened(move.last_error)

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


admin.site.unregister(WebhookEventTrigger)


@admin.register(WebhookEventTrigger)
class StripeEventLedgerAdmin(ReadOnlyAdmin):
    """Every verified (and refused) Stripe delivery: what it was, for whom, whether it was
    processed and why not. Staff who may change deliveries can replay them."""

    actions = ["replay"]
    # Deliveries are stored only once verified, so "valid" is a filter, not a column: the
    # list fits a 1280 px screen beside the admin's navigation.
    list_display = ["received", "event_type", "customer", "processed", "error"]
    list_filter = ["processed", "valid", "created"]
    search_fields = ["=event__id", "body"]
    list_select_related = ["event"]
    ordering = ["-created"]
    list_per_page = 50

    def get_changelist_instance(self, request):
        """One query for the page's customers: each row learns its `user_id`."""
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        for row in rows:
            row.stripe_customer = _stripe_customer_of(row)
        known = dict(
            Customer.objects.filter(
                stripe_customer_id__in={r.stripe_customer for r in rows if r.stripe_customer}
            ).values_list("stripe_customer_id", "external_id")
        )
        for row in rows:
            row.user_id = known.get(row.stripe_customer)
        return changelist

    @admin.display(description="received", ordering="created")
    def received(self, trigger) -> str:
        return moment(trigger.created)

    @admin.display(description="event")
    def event_type(self, trigger) -> str:
        """May break after each dot ("customer.subscription.updated" is long)."""
        kind = _body(trigger).get("type") or "(unreadable)"
        return mark_safe(escape(kind).replace(".", ".<wbr>"))  # noqa: S308 (escaped first)

    @admin.display(description="customer")
    def customer(self, trigger) -> str:
        user_id = getattr(trigger, "user_id", None)
        stripe_customer = getattr(trigger, "stripe_customer", None) or ""
        return user_id or (f"{stripe_customer} (not ours)" if stripe_customer else "-")

    @admin.display(description="error")
    def error(self, trigger) -> str:
        """The start of it; the whole error and its traceback are on the delivery's page."""
        return shortened(trigger.exception)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("djstripe.change_webhookeventtrigger")

    @admin.action(description="Replay (process again, idempotently)", permissions=["replay"])
    def replay(self, request, queryset):
        queued = stripe_events_replay(queryset.values_list("pk", flat=True))
        skipped = queryset.count() - queued
        self.message_user(
            request,
            f"{queued} delivery(ies) queued to be replayed"
            + (f"; {skipped} refused one(s) skipped (never verified)." if skipped else "."),
            messages.SUCCESS if queued else messages.WARNING,
        )


def _body(trigger) -> dict:
    """The delivery's JSON, parsed once per row."""
    if not hasattr(trigger, "parsed_body"):
        try:
            body = json.loads(trigger.body or "{}")
        except ValueError:
            body = {}
        trigger.parsed_body = body if isinstance(body, dict) else {}
    return trigger.parsed_body


def _stripe_customer_of(trigger) -> str:
    return stripe_customer_of((_body(trigger).get("data") or {}).get("object"))
