"""The plan catalogue in the admin."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from unfold.admin import ModelAdmin

from accounts.formatting import count, money
from accounts.models import Plan


@admin.register(Plan)
class PlanAdmin(ModelAdmin):
    # Fits 1280 px: what defines a plan at a glance; the limits, the Stripe price id, the badge,
    # the SLA and the sort order are on the plan's page.
    list_display = [
        "name",
        "code",
        "quota",
        "price",
        "support",
        "shown",
        "moves_to",
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

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "sla" and field is not None:
            field.label = "SLA"  # not "Sla", the field name capitalised
        return field

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("migrates_to")
            .annotate(n_customers=Count("customers"))
        )

    @admin.display(description="quota / month")
    def quota(self, plan: Plan) -> str:
        return f"{count(plan.quota)} {'min' if plan.bills_minutes else 'sessions'}"

    @admin.display(description="price / month", ordering="price_cents")
    def price(self, plan: Plan) -> str:
        return money(plan.price_cents, plan.currency)

    @admin.display(description="shown as", ordering="is_legacy")
    def shown(self, plan: Plan) -> str:
        if plan.is_legacy:
            return "legacy"
        return "public" if plan.is_public else "hidden"

    @admin.display(description="moves to", ordering="migrates_to__sort_order")
    def moves_to(self, plan: Plan) -> str:
        return plan.migrates_to.name if plan.migrates_to_id else "-"

    @admin.display(description="customers", ordering="n_customers")
    def customer_count(self, plan: Plan) -> str:
        return count(plan.n_customers)
