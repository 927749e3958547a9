"""The audit trail and the e-mail outbox, read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.formatting import money, shortened
from accounts.models import EmailNotification, PlanChange
from accounts.services.notifications import emails_retry


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    # Fits 1280 px: the move and its price in words; state snapshots on each row's page.
    list_display = ["created_at", "customer", "move", "price", "source", "actor", "batch", "reason"]
    list_filter = ["source", "to_plan", "from_plan"]
    search_fields = ["customer__external_id", "actor", "reason", "stripe_event_id"]
    list_select_related = ["customer", "from_plan", "to_plan", "batch"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="move")
    def move(self, change: PlanChange) -> str:
        return change.move_label

    @admin.display(description="price / month")
    def price(self, change: PlanChange) -> str:
        to = money(change.to_price_cents)
        if change.from_price_cents is None or change.from_price_cents == change.to_price_cents:
            return to
        return f"{money(change.from_price_cents)} → {to}"


@admin.register(EmailNotification)
class EmailNotificationAdmin(ModelAdmin):
    """The e-mail outbox: what was sent, what waits, what failed for good (and why)."""

    empty_list_help = (
        "Every e-mail is recorded here as it is queued: usage alerts, payment failures, "
        "migration notices and sign-in links."
    )

    # Fits 1280 px: when it was sent, the next attempt and the whole error are on its page.
    list_display = ["created_at", "recipient", "kind", "status", "attempts", "error_start"]
    list_filter = ["status", "kind"]
    search_fields = ["customer__external_id", "to_email"]
    list_select_related = ["customer"]
    readonly_fields = [f.name for f in EmailNotification._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the outbox is the record of what was sent

    @admin.display(description="to", ordering="to_email")
    def recipient(self, email: EmailNotification):
        """The address, and the customer's user_id under it."""
        return format_html(
            '{}<br><span class="console-subtle">{}</span>', email.to_email, email.customer
        )

    @admin.display(description="error")
    def error_start(self, email: EmailNotification) -> str:
        return shortened(email.error)

    @admin.action(description="Send the failed ones again", permissions=["change"])
    def send_again(self, request, queryset):
        queued = emails_retry(ids=queryset.values_list("pk", flat=True))
        skipped = queryset.count() - queued
        self.message_user(
            request,
            f"{queued} e-mail(s) queued to be sent again"
            + (f"; {skipped} left alone (only failed ones are sent again)." if skipped else "."),
            messages.SUCCESS if queued else messages.WARNING,
        )
