"""The filters of the customer list: legacy plan, usage this month, grandfathering."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import F
from django.utils import timezone

ENDING_SOON_DAYS = 30


class LegacyFilter(admin.SimpleListFilter):
    title = "legacy plan"
    parameter_name = "legacy"

    def lookups(self, request, model_admin):
        return [("yes", "On a legacy minute plan"), ("no", "On a session plan")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(plan__is_legacy=True)
        if self.value() == "no":
            return queryset.filter(plan__is_legacy=False)
        return queryset


class UsageLevelFilter(admin.SimpleListFilter):
    title = "usage this month"
    parameter_name = "usage"

    def lookups(self, request, model_admin):
        return [("80", "80% or more"), ("100", "Quota reached")]

    def queryset(self, request, queryset):
        # `quota_used` and `plan_quota` are annotated by customers_with_usage().
        if self.value() == "80":
            return queryset.filter(quota_used__gte=F("plan_quota") * 0.8)
        if self.value() == "100":
            return queryset.filter(quota_used__gte=F("plan_quota"))
        return queryset


class GrandfatheringFilter(admin.SimpleListFilter):
    title = "grandfathering"
    parameter_name = "grandfathering"

    def lookups(self, request, model_admin):
        return [
            ("yes", "Grandfathered"),
            ("ending", f"Ending within {ENDING_SOON_DAYS} days"),
            ("ended", "Ended, waiting for the move"),
            ("no", "Not grandfathered"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(grandfathered_until__isnull=False)
        if self.value() == "ending":
            return queryset.filter(
                grandfathered_until__gt=now,
                grandfathered_until__lte=now + timedelta(days=ENDING_SOON_DAYS),
            )
        if self.value() == "ended":
            return queryset.filter(grandfathered_until__lte=now)
        if self.value() == "no":
            return queryset.filter(grandfathered_until__isnull=True)
        return queryset
