"""Sessions reported by the proxy and the monthly counters that quota and usage read."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Session(models.Model):
    """One WebRTC connection. `session_id` is the proxy's id and the idempotency key, forever."""

    session_id = models.CharField(max_length=255, unique=True)
    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.PROTECT, related_name="sessions"
    )
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="+")
    period = models.DateField(help_text="First day of the billing month the session counts in.")
    status = models.CharField(
        max_length=16, choices=SessionStatus.choices, default=SessionStatus.ACTIVE
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    minutes = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # Concurrency check: a customer's open sessions, newest first.
            models.Index(
                fields=["customer", "started_at"],
                condition=Q(status="active"),
                name="session_open_by_customer",
            ),
            models.Index(fields=["customer", "period"], name="session_customer_period"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(minutes__gte=0), name="session_minutes_gte_0"),
        ]

    def __str__(self) -> str:
        return self.session_id


class MonthlyUsage(models.Model):
    """Counters per customer and billing month, changed only by single SQL statements.

    The quota in use is `total_sessions - failed_sessions`: a start reserves one unit and a
    failed end gives it back. Minute plans are measured on `billable_minutes` (the minutes of
    sessions that did not fail); `total_minutes` counts every ended session (staff figure).
    """

    customer = models.ForeignKey(
        "accounts.Customer", on_delete=models.CASCADE, related_name="monthly_usage"
    )
    period = models.DateField(help_text="First day of the billing month (UTC).")
    total_sessions = models.PositiveIntegerField(default=0)
    successful_sessions = models.PositiveIntegerField(default=0)
    failed_sessions = models.PositiveIntegerField(default=0)
    total_minutes = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    billable_minutes = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period", "customer"]
        verbose_name_plural = "monthly usage"
        constraints = [
            models.UniqueConstraint(fields=["customer", "period"], name="usage_one_row_per_month"),
            models.CheckConstraint(
                condition=Q(failed_sessions__lte=F("total_sessions"))
                & Q(successful_sessions__lte=F("total_sessions") - F("failed_sessions")),
                name="usage_counters_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.period:%Y-%m}"

    @property
    def sessions_used(self) -> int:
        return self.total_sessions - self.failed_sessions
