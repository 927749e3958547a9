"""Sessions and monthly counters in the admin, read-only (the services alone write them).

The legacy import and the export of monthly usage are added by `migration.admin`.
"""

from django.contrib import admin

from accounts.admin.readonly import ReadOnlyAdmin
from usage import calibration_admin  # noqa: F401  (the minutes-per-session page registers itself)
from usage.models import MonthlyUsage, Session


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
class MonthlyUsageAdmin(ReadOnlyAdmin):
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
