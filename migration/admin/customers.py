"""Customers in the admin: this month's usage beside each, the migration actions, the legacy
import and the export."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline

from accounts.actors import request_actor
from accounts.formatting import day
from accounts.models import ChangeSource, Customer, Project
from accounts.services.customers import customer_get_or_create
from migration.admin.actions import MIGRATION_ACTIONS
from migration.admin.change_plan import CustomerChangePlanMixin
from migration.admin.customer_page import CustomerPageMixin
from migration.admin.filters import GrandfatheringFilter, LegacyFilter, UsageLevelFilter
from migration.admin.import_export import CustomerImportExportMixin
from migration.admin.views import CustomerMigrationActionsMixin
from usage.selectors import customers_with_usage


class ProjectInline(TabularInline):
    model = Project
    extra = 0
    hide_title = True  # the row shows its project id; the title read "67/default"
    fields = ["project_id", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Customer)
class CustomerAdmin(
    CustomerImportExportMixin,
    CustomerMigrationActionsMixin,
    CustomerPageMixin,
    CustomerChangePlanMixin,
    ModelAdmin,
):
    # Fits 1280 px: the coming move in one column; Stripe ids and dates on the customer's page.
    list_display = [
        "customer",
        "plan_name",
        "status",
        "usage_this_month",
        "percent",
        "coming_move",
    ]
    list_filter = [
        LegacyFilter,
        GrandfatheringFilter,
        "plan",
        "status",
        UsageLevelFilter,
        "migration_exempt",
    ]
    actions = [*MIGRATION_ACTIONS]
    search_fields = ["external_id", "email", "stripe_customer_id", "stripe_subscription_id"]
    list_select_related = ["plan", "grandfather_plan"]
    readonly_fields = ["plan_summary", "created_at", "updated_at", "stripe_state_at"]
    raw_id_fields = ["user"]
    # The plan history is read in words in its own section (CustomerPageMixin).
    inlines = [ProjectInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["external_id", "email", "user", "plan_summary", "status"]}),
        (
            "Move to session plans",
            {"fields": ["grandfathered_until", "grandfather_plan", "migration_exempt"]},
        ),
        ("Stripe", {"fields": ["stripe_customer_id", "stripe_subscription_id", "stripe_state_at"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return customers_with_usage(super().get_queryset(request))

    def get_urls(self):
        return [*self.change_plan_urls(), *super().get_urls()]

    def get_readonly_fields(self, request, obj=None):
        # Plan, status and migration state change only through the audited services
        # (actions, commands, Stripe webhooks).
        readonly = [*super().get_readonly_fields(request, obj), "status"]
        if obj is not None:
            readonly += [
                "external_id",
                "grandfathered_until",
                "grandfather_plan",
                "migration_exempt",
            ]
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new customer is provisioned like any other (free plan, audited); staff then move
        # it with the actions.
        customer, _ = customer_get_or_create(
            external_id=obj.external_id,
            email=obj.email,
            source=ChangeSource.ADMIN,
            actor=request_actor(request),
        )
        if obj.user_id and customer.user_id is None:
            Customer.objects.filter(pk=customer.pk).update(user=obj.user)
        obj.pk = customer.pk
        obj.refresh_from_db()

    @admin.display(description="customer", ordering="external_id")
    def customer(self, customer: Customer):
        """The user_id, and the address under it."""
        return format_html(
            '{}<br><span class="console-subtle">{}</span>', customer.external_id, customer.email
        )

    @admin.display(description="plan", ordering="plan__sort_order")
    def plan_name(self, customer: Customer) -> str:
        return customer.plan.name

    @admin.display(description="next move", ordering="grandfathered_until")
    def coming_move(self, customer: Customer) -> str:
        if customer.migration_exempt:
            return "exempt"
        if customer.grandfathered_until is None:
            return "-"
        return f"→ {customer.grandfather_plan.name} on {day(customer.grandfathered_until)}"

    @admin.display(description="used / included", ordering="quota_used")
    def usage_this_month(self, customer: Customer) -> str:
        unit = "min" if customer.plan.bills_minutes else "sessions"
        return f"{int(customer.quota_used):,} / {customer.plan_quota:,} {unit}"

    @admin.display(description="%")
    def percent(self, customer: Customer):
        quota = customer.plan_quota or 0
        percent = int(customer.quota_used * 100 // quota) if quota else 0
        color = "#b91c1c" if percent >= 100 else "#b45309" if percent >= 80 else "#15803d"
        return format_html('<strong style="color:{}">{}%</strong>', color, percent)
