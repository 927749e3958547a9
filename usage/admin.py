"""Sessions and monthly counters in the admin, read-only (the services alone write them).

The legacy import and the export of monthly usage are added by `migration.admin`.
"""

from django.contrib import admin

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.formatting import count
from usage import calibration_admin  # noqa: F401  (the minutes-per-session page registers itself)
from usage.models import MonthlyUsage, Session


@admin.register(Session)
class SessionAdmin(ReadOnlyAdmin):
    list_display = [
        "session_id",
        "customer",
        "project_name",
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

    @admin.display(description="project", ordering="project__project_id")
    def project_name(self, session: Session) -> str:
        return session.project.project_id if session.project_id else "-"


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(ReadOnlyAdmin):
    # Fits 1280 px: the successful sessions are the billing unit; all starts on each row's page.
    list_display = [
        "customer",
        "month",
        "successful",
        "failed",
        "minutes",
        "billable",
    ]
    list_filter = ["period"]
    search_fields = ["customer__external_id"]
    list_select_related = ["customer"]
    show_full_result_count = False

    @admin.display(description="month", ordering="period")
    def month(self, usage: MonthlyUsage) -> str:
        return f"{usage.period:%b %Y}"

    @admin.display(description="sessions", ordering="successful_sessions")
    def successful(self, usage: MonthlyUsage) -> str:
        return count(usage.successful_sessions)

    @admin.display(description="failed", ordering="failed_sessions")
    def failed(self, usage: MonthlyUsage) -> str:
        return count(usage.failed_sessions)

    @admin.display(description="minutes", ordering="total_minutes")
    def minutes(self, usage: MonthlyUsage) -> str:
        return count(usage.total_minutes)

    @admin.display(description="billable minutes", ordering="billable_minutes")
    def billable(self, usage: MonthlyUsage) -> str:
        return count(usage.billable_minutes)
