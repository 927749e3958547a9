"""Migration batches: what each bulk operation selected, did, and how to roll it back."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from accounts.models import MigrationBatch
from migration.admin.views import MigrationBatchAdminMixin


@admin.register(MigrationBatch)
class MigrationBatchAdmin(MigrationBatchAdminMixin, ModelAdmin):
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
