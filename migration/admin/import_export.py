"""Import and export of customers and monthly usage in the admin (django-import-export).

The library gives the upload form, the preview, the confirmation step and the CSV export; the
import itself is `legacy_customers_import`, the service the `import_legacy_customers` command
runs, so the admin and the command cannot disagree: the preview is the service's dry run, the
confirmation its apply (which checks everything again), and its errors (file, line, reason) are
shown as the rows that failed. The uploaded bytes reach the service untouched, so encodings,
delimiters and headers are judged by the same code too.
"""

from __future__ import annotations

import os

import tablib
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from import_export import resources
from import_export.admin import ImportExportMixin
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.results import Result, RowResult
from unfold.contrib.import_export.forms import ExportForm, ImportForm

from accounts.actors import admin_actor
from accounts.errors import BillingError
from accounts.jobs import job_start
from accounts.models import Customer
from accounts.periods import period_of
from migration.importing.parse import OLD_PLAN_NAMES
from migration.importing.report import CREATE, UNCHANGED, UPDATE, ImportRejected, RowOutcome
from migration.importing.run import CsvUpload, legacy_customers_import
from migration.jobs import LEGACY_IMPORT
from usage import admin as usage_admin
from usage.models import MonthlyUsage
from usage.selectors import customers_with_usage

# Rows that change are listed in the preview up to this many; every row is counted.
PREVIEW_LIMIT = 1000
_IMPORT_TYPES = {
    CREATE: RowResult.IMPORT_TYPE_NEW,
    UPDATE: RowResult.IMPORT_TYPE_UPDATE,
    UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
}


class UploadedCsv(tablib.Dataset):
    """The uploaded file's bytes, for the service to read (it reports empty files itself)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.raw = data

    def __bool__(self) -> bool:
        return True


class LegacyCsvFormat(base_formats.Format):
    """CSV passed on as bytes: no decoding here, the service judges the encoding."""

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding  # unused: the service reads the bytes

    def get_title(self) -> str:
        return "csv"

    def get_extension(self) -> str:
        return "csv"

    def get_content_type(self) -> str:
        return "text/csv"

    def can_import(self) -> bool:
        return True

    def create_dataset(self, in_stream) -> UploadedCsv:
        return UploadedCsv(in_stream if isinstance(in_stream, bytes) else in_stream.encode())


# A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection"):
# such a text cell is exported with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _NamedResource(resources.Resource):
    """A resource that is not a ModelResource still needs the name the admin forms show."""

    @classmethod
    def get_display_name(cls) -> str:
        return getattr(cls._meta, "name", None) or cls.__name__

    def export_field(self, field, instance, **kwargs):
        # Text that a customer chose (an e-mail address, a user_id) cannot run as a formula.
        return spreadsheet_safe(super().export_field(field, instance, **kwargs))


class LegacyImportResource(_NamedResource):
    """Runs the import service on an uploaded file; `file_kind` says which file it is."""

    file_kind = "customers"

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs) -> Result:
        name = os.path.basename(kwargs.get("file_name") or f"{self.file_kind}.csv")
        upload = CsvUpload(name=name, data=getattr(dataset, "raw", b""))
        user = kwargs.get("user")
        result = Result()
        result.legacy_report = None
        result.legacy_issues = []
        result.legacy_job = None
        result.legacy_conflict = ""
        if not dry_run:
            # Confirmed after the preview: a worker imports it (a large file takes minutes);
            # the job checks everything again and imports all or nothing.
            try:
                result.legacy_job = job_start(
                    kind=LEGACY_IMPORT,
                    batch=None,
                    actor=admin_actor(user) if user is not None else "admin",
                    created_by=user,
                    options={"name": name, "file_kind": self.file_kind},
                    payload=upload.data,
                )
            except BillingError as exc:
                result.legacy_conflict = exc.detail
            return result
        try:
            report = legacy_customers_import(
                customers=upload if self.file_kind == "customers" else None,
                usage=upload if self.file_kind == "usage" else None,
                apply=not dry_run,
                actor=admin_actor(user) if user is not None else "admin",
            )
        except ImportRejected as exc:
            result.legacy_issues = exc.issues
            result.diff_headers = ["file"]
            for issue in exc.issues:
                result.append_invalid_row(
                    issue.line or "—",
                    {"file": issue.file},
                    ValidationError({issue.column or NON_FIELD_ERRORS: [issue.reason]}),
                )
                result.totals[RowResult.IMPORT_TYPE_INVALID] += 1
            return result
        result.legacy_report = report
        key = "user_id" if self.file_kind == "customers" else "user_id month"
        result.diff_headers = ["line", key, "what changes"]
        listed = 0
        for outcome in report.outcomes:
            row = RowResult()
            row.import_type = _IMPORT_TYPES[outcome.action]
            result.increment_row_result_total(row)
            if (outcome.action == UNCHANGED and not outcome.note) or listed >= PREVIEW_LIMIT:
                continue
            row.diff = [outcome.line, outcome.key, _described(outcome)]
            result.append_row_result(row)
            listed += 1
        result.total_rows = len(report.outcomes)
        result.legacy_changes = sum(1 for outcome in report.outcomes if outcome.action != UNCHANGED)
        result.legacy_unlisted = (
            sum(1 for outcome in report.outcomes if outcome.action != UNCHANGED or outcome.note)
            - listed
        )
        return result


def _described(outcome: RowOutcome) -> str:
    if outcome.note:
        return outcome.note
    return "; ".join(
        f"{name}: {old} → {new}" if old else f"{name}: {new}" for name, old, new in outcome.changes
    )


class LegacyCustomersImportResource(LegacyImportResource):
    file_kind = "customers"
    # Declared for the upload page's list of columns (migration.importing.parse.CUSTOMER_COLUMNS).
    user_id = Field(column_name="user_id")
    email = Field(column_name="email")
    plan = Field(column_name="plan")
    price_cents = Field(column_name="price_cents")
    stripe_customer_id = Field(column_name="stripe_customer_id")
    stripe_subscription_id = Field(column_name="stripe_subscription_id")
    created_at = Field(column_name="created_at")

    class Meta:
        name = "Customers from the old system"


class LegacyUsageImportResource(LegacyImportResource):
    file_kind = "usage"
    # migration.importing.parse.USAGE_COLUMNS
    user_id = Field(column_name="user_id")
    month = Field(column_name="month")
    total_minutes_used = Field(column_name="total_minutes_used")
    total_sessions = Field(column_name="total_sessions")
    successful_sessions = Field(column_name="successful_sessions")

    class Meta:
        name = "Monthly usage from the old system"


# --- export ---------------------------------------------------------------------------------


class CustomerExportResource(_NamedResource):
    """Customers with plan, status, grandfathering state and this month's usage.

    The first columns are those of the import, so that an export can be imported back
    (`plan_code` makes "free" and "starter" unambiguous).
    """

    user_id = Field(attribute="external_id", column_name="user_id")
    email = Field(attribute="email", column_name="email")
    plan = Field(column_name="plan")
    price_cents = Field(attribute="plan__price_cents", column_name="price_cents")
    stripe_customer_id = Field(attribute="stripe_customer_id", column_name="stripe_customer_id")
    stripe_subscription_id = Field(
        attribute="stripe_subscription_id", column_name="stripe_subscription_id"
    )
    created_at = Field(column_name="created_at")
    plan_code = Field(attribute="plan__code", column_name="plan_code")
    plan_name = Field(attribute="plan__name", column_name="plan_name")
    billing_unit = Field(attribute="plan__billing_unit", column_name="billing_unit")
    status = Field(attribute="status", column_name="status")
    grandfathered_until = Field(column_name="grandfathered_until")
    grandfather_plan = Field(attribute="grandfather_plan__code", column_name="grandfather_plan")
    migration_exempt = Field(column_name="migration_exempt")
    usage_month = Field(column_name="usage_month")
    sessions_used = Field(attribute="sessions_used", column_name="sessions_used")
    billable_minutes = Field(attribute="billable_minutes", column_name="billable_minutes")
    quota = Field(attribute="plan_quota", column_name="quota")
    percent_used = Field(column_name="percent_used")

    class Meta:
        name = "Customers (plan, status, grandfathering, this month's usage)"

    def filter_export(self, queryset, **kwargs):
        self.month = period_of()
        if "quota_used" not in queryset.query.annotations:
            queryset = customers_with_usage(queryset, period=self.month)
        return queryset.select_related("plan", "grandfather_plan")

    def dehydrate_plan(self, customer: Customer) -> str:
        return OLD_PLAN_NAMES.get(customer.plan.code, customer.plan.code)

    def dehydrate_created_at(self, customer: Customer) -> str:
        return customer.created_at.isoformat()

    def dehydrate_grandfathered_until(self, customer: Customer) -> str:
        until = customer.grandfathered_until
        return until.isoformat() if until else ""

    def dehydrate_migration_exempt(self, customer: Customer) -> str:
        return "true" if customer.migration_exempt else "false"

    def dehydrate_usage_month(self, customer: Customer) -> str:
        return self.month.label

    def dehydrate_percent_used(self, customer: Customer) -> int:
        quota = customer.plan_quota or 0
        return int(customer.quota_used * 100 // quota) if quota else 0


class MonthlyUsageExportResource(_NamedResource):
    """One row per customer and month, in the import's columns plus the portal's own two."""

    user_id = Field(attribute="customer__external_id", column_name="user_id")
    month = Field(column_name="month")
    total_minutes_used = Field(attribute="total_minutes", column_name="total_minutes_used")
    total_sessions = Field(attribute="total_sessions", column_name="total_sessions")
    successful_sessions = Field(attribute="successful_sessions", column_name="successful_sessions")
    failed_sessions = Field(attribute="failed_sessions", column_name="failed_sessions")
    billable_minutes = Field(attribute="billable_minutes", column_name="billable_minutes")

    class Meta:
        name = "Monthly usage"

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("customer")

    def dehydrate_month(self, usage) -> str:
        return usage.period.strftime("%Y-%m")


# --- admin ----------------------------------------------------------------------------------


class _LegacyImportExportMixin(ImportExportMixin):
    """Upload with preview and confirmation, CSV export; staff with the model's permissions."""

    import_template_name = "admin/migration/legacy_import.html"
    import_form_class = ImportForm
    export_form_class = ExportForm
    # PlanChange rows are the audit trail of an import; a LogEntry per row would not add to it.
    skip_admin_log = True
    import_resource: type[LegacyImportResource]
    export_resource: type[resources.Resource]

    def get_import_formats(self):
        return [LegacyCsvFormat]

    def get_export_formats(self):
        return [base_formats.CSV]

    def get_import_resource_classes(self, request):
        return [self.import_resource]

    def get_export_resource_classes(self, request):
        return [self.export_resource]

    def _has_model_permission(self, request, action: str) -> bool:
        user = request.user
        codename = get_permission_codename(action, self.opts)
        return (
            user.is_active and user.is_staff and user.has_perm(f"{self.opts.app_label}.{codename}")
        )

    def has_import_permission(self, request) -> bool:
        return self._has_model_permission(request, "change")

    def has_export_permission(self, request) -> bool:
        return self._has_model_permission(request, "view")

    def process_result(self, result, request):
        info = self.get_model_info()
        import_url = reverse(f"admin:{info[0]}_{info[1]}_import", current_app=self.admin_site.name)
        if result.legacy_conflict:
            messages.error(request, f"Nothing was queued: {result.legacy_conflict}")
            return HttpResponseRedirect(import_url)
        if result.legacy_job is not None:
            job_url = reverse(
                "admin:accounts_backgroundjob_change",
                args=[result.legacy_job.pk],
                current_app=self.admin_site.name,
            )
            messages.success(
                request,
                format_html(
                    'Import queued as <a href="{}">job {}</a>: a worker checks the file again '
                    "and imports it, all or nothing; the job's page follows it.",
                    job_url,
                    result.legacy_job.pk,
                ),
            )
            return HttpResponseRedirect(job_url)
        # The confirmation checks everything again: the database may have moved meanwhile.
        if result.has_validation_errors():
            issues = result.legacy_issues
            shown = "; ".join(str(issue) for issue in issues[:20])
            more = f" (and {len(issues) - 20} more)" if len(issues) > 20 else ""
            messages.error(request, f"Nothing was imported: {shown}{more}")
            return HttpResponseRedirect(import_url)
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        report = result.legacy_report
        parts = []
        if report.customers.total:
            parts.append(f"customers: {report.customers}")
        if report.usage.total:
            parts.append(f"monthly usage: {report.usage}")
        parts.append(f"{report.plan_changes:,} plan changes recorded (source import)")
        messages.success(request, "Import done. " + "; ".join(parts) + ".")


class CustomerImportExportMixin(_LegacyImportExportMixin):
    import_resource = LegacyCustomersImportResource
    export_resource = CustomerExportResource


class MonthlyUsageImportExportMixin(_LegacyImportExportMixin):
    import_resource = LegacyUsageImportResource
    export_resource = MonthlyUsageExportResource


# Monthly usage is registered read-only by `usage.admin`; this layer adds the legacy import and
# the export to it.
admin.site.unregister(MonthlyUsage)


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(MonthlyUsageImportExportMixin, usage_admin.MonthlyUsageAdmin):
    pass
