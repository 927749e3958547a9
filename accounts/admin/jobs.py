"""Background jobs in the admin: what staff started, how far it is, how it ended."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote

from accounts.admin.readonly import ReadOnlyAdmin
from accounts.jobs import LABELS, job_context, job_progress
from accounts.models import BackgroundJob


@admin.register(BackgroundJob)
class BackgroundJobAdmin(ReadOnlyAdmin):
    empty_list_help = (
        "A job starts when staff apply or roll back a batch, or import legacy customers: "
        "a worker runs it and its page follows the progress."
    )
    list_display = ["id", "what", "state", "progress", "actor", "created_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["batch"]
    fields = ["what", "batch", "state", "actor", "created_at", "started_at", "finished_at"]
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever started a job may follow it (the page a confirmed import leads to).
        own = obj is not None and obj.created_by_id == request.user.pk
        return own or super().has_view_permission(request, obj)

    @admin.display(description="job", ordering="kind")
    def what(self, job: BackgroundJob) -> str:
        doing = LABELS.get(job.kind, (job.kind, ""))[0]
        if job.batch_id:
            return f"{doing} batch {job.batch_id}"
        return f"{doing} {job.options.get('name', '')}".strip()

    @admin.display(description="progress")
    def progress(self, job: BackgroundJob) -> str:
        progress = job_progress(job) if job.is_active else None
        if not progress or not progress.get("total"):
            return "-"
        return f"{progress['phase']}: {progress['done']:,} of {progress['total']:,}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))  # None: no such job, or not an id
        extra = {**job_context(job), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)
