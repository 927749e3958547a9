"""The plan catalogue in the admin."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from unfold.admin import ModelAdmin

from accounts.formatting import money
from accounts.models import Plan


@admin.register(Plan)
class PlanAdmin(ModelAdmin):
    list_display = [
        "code",
        "name",
        "billing_unit",
        "included_sessions",
        "included_minutes",
        "price",
        "requests_per_minute",
        "max_concurrent_sessions",
        "max_projects",
        "support",
        "is_public",
        "is_legacy",
        "migrates_to",
        "stripe_price_id",
        "customer_count",
    ]
    list_filter = ["is_legacy", "is_public", "billing_unit"]
    search_fields = ["code", "name", "stripe_price_id"]
    ordering = ["is_legacy", "sort_order"]
    fieldsets = [
        (
            None,
            {"fields": ["code", "name", "billing_unit", "is_public", "is_legacy", "sort_order"]},
        ),
        ("Quota", {"fields": ["included_sessions", "included_minutes"]}),
        ("Price", {"fields": ["price_cents", "currency", "stripe_price_id"]}),
        (
            "Limits and features",
            {
                "fields": [
                    "requests_per_minute",
                    "max_concurrent_sessions",
                    "max_projects",
                    "badge",
                    "support",
                    "sla",
                ]
            },
        ),
        ("Migration", {"fields": ["migrates_to"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("migrates_to")
            .annotate(n_customers=Count("customers"))
        )

    @admin.display(description="price", ordering="price_cents")
    def price(self, plan: Plan) -> str:
        return f"{money(plan.price_cents, plan.currency)}/mo"

    @admin.display(description="customers", ordering="n_customers")
    def customer_count(self, plan: Plan) -> int:
        return plan.n_customers
