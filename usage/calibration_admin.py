"""The calibration page in the admin: the measured minutes per session (the same report as
`manage.py calibrate_minutes_per_session`), the figure in force, "use this figure", and the
history of the figure. Its list page is the report; the rows are the history (append-only).

Reading needs the view permission on "minutes per session"; using a figure needs its add
permission (each use adds a history row).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.admin import ModelAdmin

from accounts.actors import admin_actor, posted_reason
from accounts.errors import BillingError, InvalidInput
from accounts.estimates import default_minutes_per_session, minutes_per_session_stored
from accounts.models import MinutesPerSessionChange
from usage.calibration import STATISTICS, calibration_report, minutes_per_session_use_measured

HISTORY_ROWS = 50


@admin.register(MinutesPerSessionChange)
class MinutesPerSessionAdmin(ModelAdmin):
    calibration_template = "admin/accounts/minutespersessionchange/calibration.html"

    def has_add_permission(self, request) -> bool:
        return False  # a figure is set from the report ("use this figure"), never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def may_use_figure(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}")

    def get_urls(self):
        use = path(
            "use/",
            self.admin_site.admin_view(self.use_view),
            name="accounts_minutespersessionchange_use",
        )
        return [use, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = calibration_report()
        current = minutes_per_session_stored()
        samples = [report.overall, *report.per_plan]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Minutes per session",
            "subtitle": None,
            "report": report,
            "samples": samples,
            "statistics": list(STATISTICS),
            "in_force": current.value if current else default_minutes_per_session(),
            "in_force_change": current,
            "default": default_minutes_per_session(),
            "history": MinutesPerSessionChange.objects.order_by("-id")[:HISTORY_ROWS],
            "may_use": self.may_use_figure(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.calibration_template, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A history row has nothing more to show than its line on the report page.
        return HttpResponseRedirect(reverse("admin:accounts_minutespersessionchange_changelist"))

    def use_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_use_figure(request):
            raise PermissionDenied
        page = reverse("admin:accounts_minutespersessionchange_changelist")
        # The button pressed: "<scope>|<statistic>|<figure shown>" (all|median|2.29).
        scope, statistic, expected = [*request.POST.get("use", "").split("|"), "", "", ""][:3]
        try:
            # Required here: one click changes every estimate, so staff say why first.
            reason = posted_reason(request)
            if not reason:
                raise InvalidInput(
                    "Nothing changed: type why you use this figure (kept in the history), "
                    "then press the button again.",
                    field="reason",
                )
            change = minutes_per_session_use_measured(
                scope=scope,
                statistic=statistic,
                expected=expected or None,
                reason=reason,
                actor=admin_actor(request.user),
            )
        except BillingError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(page)
        self.message_user(
            request,
            f"Minutes per session: {change.previous_value} → {change.value}. Estimates, the "
            "pricing and usage pages, e-mails and dry runs use it now.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(page)
