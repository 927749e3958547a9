"""The task queue (django-tasks' database backend) in the admin's theme, with the columns that
fit a screen: what ran, how it ended and when; the rest is on each task's page."""

from __future__ import annotations

from django.contrib import admin
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult
from unfold.admin import ModelAdmin

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin, ModelAdmin):
    list_display = ["task", "status", "enqueued_at", "finished_at", "queue_name"]
    list_filter = ["status", "queue_name"]
    search_fields = ["task_path"]

    @admin.display(description="task", ordering="task_path")
    def task(self, result: DBTaskResult) -> str:
        """The function's name; its module is on the task's page."""
        return result.task_path.rsplit(".", 1)[-1]
