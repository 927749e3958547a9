"""The admin pages of the move to session plans: the confirmation page behind every
customer action, and the batch page with its report, apply and roll-back buttons.

Every page calls the same services as the commands (`migration.batches`). Pages list every
selected customer from plain values computed in a fixed number of queries, so they render in
bounded queries whatever the number of customers.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.actors import posted_reason, request_actor
from accounts.errors import BillingError, Conflict
from accounts.formatting import day
from accounts.jobs import job_context, job_start
from accounts.models import BatchKind, BatchStatus, MigrationBatch
from billing.models import PriceMoveStatus
from billing.services.stripe_price_moves import price_move_counts
from migration.admin.actions import ACTION_TEXT
from migration.admin.forms import MigrationActionForm
from migration.batches.apply import migration_batch_create, migration_batch_queue
from migration.batches.notices import migration_notices_send
from migration.batches.operations import NOTICE
from migration.batches.planning import MigrationPlan, migration_plan
from migration.batches.rollback import RollbackPlan, migration_batch_rollback_plan
from migration.batches.selection import CustomerSelection
from migration.jobs import BATCH_APPLY, BATCH_ROLLBACK

REPORT_PAGE_SIZE = 1000


def _display_rows(plan: MigrationPlan, change_url: str) -> list[dict]:
    """Plain values per customer for the templates (no model access, no query per row)."""
    rows = []
    for change in plan.rows:
        before, destination = change.from_plan, change.destination
        rows.append(
            {
                "url": change_url.replace("__pk__", str(change.row.customer_id)),
                "external_id": change.row.external_id,
                "from_plan": before.name,
                "from_quota": _quota(before),
                "from_price": before.price_cents,
                "to_plan": destination.name,
                "to_quota": _quota(destination),
                "to_price": destination.price_cents,
                "sessions": [f"{sessions:,}" for sessions in change.estimated_sessions],
                "pays_more": change.pays_more,
                "would_exceed": change.would_exceed,
                "what": change.describe(plan.plans),
                "skipped": not change.changes,
            }
        )
    return rows


def _quota(plan) -> str:
    if plan.bills_minutes:
        return f"{plan.included_minutes:,} min"
    return f"{plan.included_sessions:,} sessions"


class CustomerMigrationActionsMixin:
    """For CustomerAdmin: the confirmation page behind every migration action."""

    migration_action_template = "admin/migration/customer_action.html"

    def migration_action_view(self, request, queryset, *, kind: str):
        selection = CustomerSelection(customer_ids=tuple(queryset.values_list("pk", flat=True)))
        confirmed = "apply" in request.POST or "save_planned" in request.POST
        bound = confirmed or "preview" in request.POST
        default_months = settings.GRANDFATHER_MONTHS if kind == BatchKind.GRANDFATHER else 1
        form = MigrationActionForm(
            request.POST if bound else None,
            kind=kind,
            initial={"months": default_months, "notify": True},
        )
        valid = bound and form.is_valid()
        months = form.cleaned_data.get("months", default_months) if valid else default_months
        try:
            if confirmed and valid:
                return self._migration_confirmed(request, kind, selection, form.cleaned_data)
            plan = migration_plan(kind=kind, selection=selection, grandfather_months=months)
        except BillingError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return None
        title, explanation = ACTION_TEXT[kind]
        change_url = reverse("admin:accounts_customer_change", args=["__pk__"])
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {len(plan.rows):,} customer(s)",
            "explanation": explanation,
            "opts": self.model._meta,
            "kind": kind,
            "is_notice": kind == NOTICE,
            "can_save_planned": kind != NOTICE,
            "form": form,
            "plan": plan,
            "totals": plan.totals,
            "rows": _display_rows(plan, change_url),
            "history_labels": plan.history_labels,
            "action_name": request.POST.get("action", ""),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, self.migration_action_template, context)

    def _migration_confirmed(self, request, kind, selection, data):
        if kind == NOTICE:
            plan = migration_notices_send(selection=selection)
            self.message_user(
                request,
                f"Migration notice recorded for {len(plan.changes):,} customer(s) and queued: a "
                f"worker sends them; {len(plan.skipped):,} skipped.",
                messages.SUCCESS,
            )
            return None
        options = {
            "kind": kind,
            "selection": selection,
            "grandfather_months": data.get("months"),
            "notify": data.get("notify", False),
            "reason": data["reason"],
            "actor": request_actor(request),
            "created_by": request.user,
        }
        if "save_planned" in request.POST:
            batch = migration_batch_create(**options)
            self.message_user(
                request,
                format_html(
                    'Saved as planned batch <a href="{}">{}</a>; review and apply it there.',
                    reverse("admin:accounts_migrationbatch_change", args=[batch.pk]),
                    batch.pk,
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
            )
        # Applying may take minutes for 100,000 customers: a worker does it; the batch page
        # shows the job and refreshes itself until it is done.
        with transaction.atomic():
            batch = migration_batch_queue(**options)
            job_start(
                kind=BATCH_APPLY, batch=batch, actor=options["actor"], created_by=request.user
            )
        self.message_user(
            request,
            format_html(
                "{}: batch {} is queued for {} customer(s); a worker applies it now and this "
                "page follows it (roll it back from here once done).",
                ACTION_TEXT[kind][0],
                batch.pk,
                f"{batch.customer_count:,}",
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        )


# --- Batches ----------------------------------------------------------------------------------


def _report_rows(report: dict, page_number, change_url: str) -> tuple[list[dict], object]:
    columns = report.get("columns", [])
    paginator = Paginator(report.get("rows", []), REPORT_PAGE_SIZE)
    page = paginator.get_page(page_number)
    rows = [dict(zip(columns, row, strict=False)) for row in page.object_list]
    for row in rows:
        row["url"] = change_url.replace("__pk__", str(row.get("customer_id")))
        row["estimated_sessions"] = [f"{n:,}" for n in row.get("estimated_sessions") or []]
    return rows, page


def _moments(report: dict) -> dict:
    """The report's ISO times as datetimes, for the template's date filter."""
    until = report.get("grandfathered_until")
    return {
        "grandfathered_until": datetime.fromisoformat(until) if until else None,
        "rollbacks": [
            {**rollback, "at": datetime.fromisoformat(rollback["at"])}
            for rollback in report.get("rollbacks", [])
        ],
    }


class MigrationBatchAdminMixin:
    """For MigrationBatchAdmin: the report on the batch page, apply and roll-back buttons."""

    change_form_template = "admin/migration/batch_change_form.html"
    rollback_template = "admin/migration/batch_rollback_confirm.html"

    _SHOWN_AS_TEXT = {"report", "selection", "mapping"}

    def get_fields(self, request, obj=None):
        # The report is shown as a table (below), selection and mapping as text.
        return [f for f in super().get_fields(request, obj) if f not in self._SHOWN_AS_TEXT]

    def get_readonly_fields(self, request, obj=None):
        readonly = [f for f in super().get_readonly_fields(request, obj) if f != "report"]
        return [*readonly, "selection_summary", "mapping_summary"]

    @admin.display(description="mapping")
    def mapping_summary(self, batch: MigrationBatch) -> str:
        return ", ".join(f"{old} → {new}" for old, new in batch.mapping.items()) or "-"

    @admin.display(description="selection")
    def selection_summary(self, batch: MigrationBatch) -> str:
        if "grandfathered_until_lte" in batch.selection:
            return f"grandfathering ended by {batch.selection['grandfathered_until_lte'][:16]}"
        return CustomerSelection.from_json(batch.selection).describe()

    def get_urls(self):
        urls = super().get_urls()
        own = [
            path(
                "<int:batch_id>/apply/",
                self.admin_site.admin_view(self.apply_view),
                name="accounts_migrationbatch_apply",
            ),
            path(
                "<int:batch_id>/rollback/",
                self.admin_site.admin_view(self.rollback_view),
                name="accounts_migrationbatch_rollback",
            ),
        ]
        return own + urls

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        batch = self.get_object(request, unquote(object_id))
        if batch is None:  # no such batch, or not an id: the admin's own answer
            return super().change_view(request, object_id, form_url, extra_context)
        customer_url = reverse("admin:accounts_customer_change", args=["__pk__"])
        rows, page = _report_rows(batch.report or {}, request.GET.get("page"), customer_url)
        price_moves = price_move_counts(batch_id=batch.pk)
        job = job_context(batch.jobs.order_by("-created_at").first())
        job_active = job["job_active"]
        extra = {
            **job,
            "batch": batch,
            "report": batch.report or {},
            "report_rows": rows,
            "report_page": page,
            "totals": (batch.report or {}).get("totals"),
            **_moments(batch.report or {}),
            "price_moves": price_moves,
            "price_move_rows": [
                (label, price_moves.get(status)) for status, label in PriceMoveStatus.choices
            ],
            "can_apply": batch.status == BatchStatus.PLANNED and not job_active,
            "can_roll_back": batch.status != BatchStatus.PLANNED
            and batch.rolled_back_count < batch.changed_count
            and not job_active,
            "can_change_customers": request.user.has_perm("accounts.change_customer"),
            # Every field is read-only: a batch changes only through apply and roll back.
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _require_customer_change(self, request) -> None:
        if not request.user.has_perm("accounts.change_customer"):
            raise PermissionDenied

    def apply_view(self, request, batch_id: int):
        self._require_customer_change(request)
        batch = get_object_or_404(MigrationBatch, pk=batch_id)
        change_url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        try:
            if batch.status != BatchStatus.PLANNED:
                raise Conflict(f"Batch {batch.pk} is {batch.get_status_display().lower()}.")
            job_start(
                kind=BATCH_APPLY,
                batch=batch,
                actor=request_actor(request),
                created_by=request.user,
            )
        except BillingError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(change_url)
        self.message_user(
            request,
            f"Batch {batch.pk} is queued: a worker applies it now; this page follows it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(change_url)

    def rollback_view(self, request, batch_id: int):
        self._require_customer_change(request)
        batch = get_object_or_404(MigrationBatch, pk=batch_id)
        change_url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        force = request.POST.get("force") == "on" or request.GET.get("force") == "1"
        try:
            if request.method == "POST" and "confirm" in request.POST:
                job_start(
                    kind=BATCH_ROLLBACK,
                    batch=batch,
                    actor=request_actor(request),
                    created_by=request.user,
                    options={"force": force, "reason": posted_reason(request)[:200]},
                )
                self.message_user(
                    request,
                    f"Roll-back of batch {batch.pk} is queued: a worker restores the customers "
                    "now; this page follows it and then shows who was left alone.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
            plan = migration_batch_rollback_plan(batch=batch, force=force)
        except BillingError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Roll back batch {batch.pk}",
            "opts": self.model._meta,
            "batch": batch,
            "original": batch,
            "plan": plan,
            "summary": plan.summary(),
            "rows": _rollback_display_rows(
                plan, reverse("admin:accounts_customer_change", args=["__pk__"])
            ),
            "force": force,
        }
        return TemplateResponse(request, self.rollback_template, context)


def _rollback_display_rows(plan: RollbackPlan, change_url: str) -> list[dict]:
    rows = []
    for item in plan.rows:
        current, restore = item.current, item.restore
        rows.append(
            {
                "url": change_url.replace("__pk__", str(item.row.customer_id)),
                "external_id": item.row.external_id,
                "current_plan": current["plan"],
                "restore_plan": restore["plan"],
                "current_until": _day(current.get("grandfathered_until")),
                "restore_until": _day(restore.get("grandfathered_until")),
                "restore_next": restore.get("grandfather_plan") or "",
                "current_exempt": current.get("migration_exempt"),
                "restore_exempt": restore.get("migration_exempt"),
                "conflict": item.conflict,
            }
        )
    return rows


def _day(moment: str | None) -> str:
    """A snapshot's ISO time as the admin writes a day: "29 Jan 2027"; "" for none."""
    return day(datetime.fromisoformat(moment)) if moment else ""
