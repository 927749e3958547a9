from django.contrib import admin

from billing.admin_import_export import MonthlyUsageImportExportMixin
from usage.models import MonthlyUsage, Session


class ReadOnlyAdmin(admin.ModelAdmin):
    """Metering rows change only through the metering services."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = [
        "session_id",
        "customer",
        "project",
        "status",
        "started_at",
        "ended_at",
        "minutes",
    ]
    list_filter = ["status", "period"]
    search_fields = ["session_id", "customer__external_id"]
    list_select_related = ["customer", "project"]
    date_hierarchy = "started_at"
    show_full_result_count = False


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(MonthlyUsageImportExportMixin, ReadOnlyAdmin):
    list_display = [
        "customer",
        "period",
        "total_sessions",
        "successful_sessions",
        "failed_sessions",
        "sessions_used",
        "total_minutes",
        "billable_minutes",
    ]
    list_filter = ["period"]
    search_fields = ["customer__external_id"]
    list_select_related = ["customer"]
    show_full_result_count = False
