"""The audit trail and the e-mail outbox, read-only."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.models import EmailNotification, PlanChange


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
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "customer", "kind", "dedupe_key", "to_email", "sent_at", "error"]
    list_filter = ["kind"]
    search_fields = ["customer__external_id", "to_email"]
    list_select_related = ["customer"]
    readonly_fields = [f.name for f in EmailNotification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
