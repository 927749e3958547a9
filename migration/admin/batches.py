"""Migration batches: what each bulk operation selected, did, and how to roll it back."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from accounts.formatting import count, moment
from accounts.models import MigrationBatch
from migration.admin.views import MigrationBatchAdminMixin


@admin.register(MigrationBatch)
class MigrationBatchAdmin(MigrationBatchAdminMixin, ModelAdmin):
    empty_list_help = (
        "A batch is made from the Customers list: select customers, choose a migration "
        "action, read its dry run, then apply it or save it as planned (or run "
        "`manage.py migrate_to_sessions`)."
    )
    # Fits 1280 px: the counts as "5,000", and when it was applied or rolled back in one column.
    list_display = ["id", "kind", "status", "customers", "changed", "actor", "created_at", "since"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in MigrationBatch._meta.fields]

    @admin.display(description="customers", ordering="customer_count")
    def customers(self, batch: MigrationBatch) -> str:
        return count(batch.customer_count)

    @admin.display(description="changed", ordering="changed_count")
    def changed(self, batch: MigrationBatch) -> str:
        return count(batch.changed_count)

    @admin.display(description="applied / rolled back", ordering="applied_at")
    def since(self, batch: MigrationBatch) -> str:
        if batch.rolled_back_at:
            return f"rolled back {moment(batch.rolled_back_at)}"
        return f"applied {moment(batch.applied_at)}" if batch.applied_at else "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
