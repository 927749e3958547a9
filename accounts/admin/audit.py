"""The audit trail and the e-mail outbox, read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from unfold.admin import ModelAdmin

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.models import EmailNotification, PlanChange
from accounts.services.notifications import emails_retry


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "customer",
        "from_plan",
        "to_plan",
        "from_price_cents",
        "to_price_cents",
        "source",
        "actor",
        "batch",
        "reason",
    ]
    list_filter = ["source", "to_plan", "from_plan"]
    search_fields = ["customer__external_id", "actor", "reason", "stripe_event_id"]
    list_select_related = ["customer", "from_plan", "to_plan", "batch"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(EmailNotification)
class EmailNotificationAdmin(ModelAdmin):
    """The e-mail outbox: what was sent, what waits, what failed for good (and why)."""

    list_display = [
        "created_at",
        "customer",
        "kind",
        "to_email",
        "status",
        "attempts",
        "sent_at",
        "next_attempt_at",
        "error",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["customer__external_id", "to_email"]
    list_select_related = ["customer"]
    readonly_fields = [f.name for f in EmailNotification._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the outbox is the record of what was sent

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
