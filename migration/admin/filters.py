from __future__ import annotations

from django.contrib import admin
from django.db.models import F


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
