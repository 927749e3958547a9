from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, F
from django.utils.html import format_html

from billing.admin_import_export import CustomerImportExportMixin
from billing.admin_migration import (
    MIGRATION_ACTIONS,
    CustomerMigrationActionsMixin,
    GrandfatheringFilter,
    MigrationBatchAdminMixin,
)
from billing.admin_readonly import ReadOnlyAdmin
from billing.models import (
    ChangeSource,
    Customer,
    EmailNotification,
    MigrationBatch,
    Plan,
    PlanChange,
    Project,
    ServiceKey,
    StripePriceMove,
)
from billing.selectors import customers_with_usage
from billing.services.customers import customer_get_or_create
from billing.services.service_keys import service_key_revoke


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
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
        return f"${plan.price_cents / 100:,.2f}/mo"

    @admin.display(description="customers", ordering="n_customers")
    def customer_count(self, plan: Plan) -> int:
        return plan.n_customers


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


class PlanChangeInline(admin.TabularInline):
    model = PlanChange
    fk_name = "customer"
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    fields = [
        "created_at",
        "from_plan",
        "to_plan",
        "from_price_cents",
        "to_price_cents",
        "source",
        "actor",
        "reason",
        "batch",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_plan", "to_plan", "batch")


class ProjectInline(admin.TabularInline):
    model = Project
    extra = 0
    fields = ["project_id", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Customer)
class CustomerAdmin(CustomerImportExportMixin, CustomerMigrationActionsMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "email",
        "plan_code",
        "status",
        "usage_this_month",
        "percent",
        "grandfathered_until",
        "grandfather_plan",
        "migration_exempt",
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
    readonly_fields = ["plan", "created_at", "updated_at", "stripe_state_at"]
    raw_id_fields = ["user"]
    inlines = [ProjectInline, PlanChangeInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["external_id", "email", "user", "plan", "status"]}),
        (
            "Move to session plans",
            {"fields": ["grandfathered_until", "grandfather_plan", "migration_exempt"]},
        ),
        ("Stripe", {"fields": ["stripe_customer_id", "stripe_subscription_id", "stripe_state_at"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return customers_with_usage(super().get_queryset(request))

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
            actor=request.user.get_username(),
        )
        if obj.user_id and customer.user_id is None:
            Customer.objects.filter(pk=customer.pk).update(user=obj.user)
        obj.pk = customer.pk
        obj.refresh_from_db()

    @admin.display(description="plan", ordering="plan__code")
    def plan_code(self, customer: Customer) -> str:
        return customer.plan.code

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


@admin.register(MigrationBatch)
class MigrationBatchAdmin(MigrationBatchAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "customer_count",
        "changed_count",
        "actor",
        "created_at",
        "applied_at",
        "rolled_back_at",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in MigrationBatch._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "customer", "kind", "dedupe_key", "to_email", "sent_at", "error"]
    list_filter = ["kind"]
    search_fields = ["customer__external_id", "to_email"]
    list_select_related = ["customer"]
    readonly_fields = [f.name for f in EmailNotification._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(StripePriceMove)
class StripePriceMoveAdmin(ReadOnlyAdmin):
    """The Stripe price moves outbox, read-only: `manage.py stripe_price_moves` sends them."""

    list_display = [
        "id",
        "batch",
        "subscription_id",
        "from_price_id",
        "to_price_id",
        "status",
        "attempts",
        "last_error",
        "updated_at",
    ]
    list_filter = ["status"]
    search_fields = ["subscription_id", "=batch__id"]
    list_select_related = ["batch"]


@admin.register(ServiceKey)
class ServiceKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at", "active"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["name", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # Keys are created with `manage.py create_service_key NAME`, which shows the key once.
        return False

    @admin.display(boolean=True)
    def active(self, key: ServiceKey) -> bool:
        return key.is_active

    @admin.action(description="Revoke selected keys (they stop working at once)")
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            service_key_revoke(key=key)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)
