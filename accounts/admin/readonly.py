from unfold.admin import ModelAdmin


class ReadOnlyAdmin(ModelAdmin):
    """Rows that change only through services (audit trail, metering): staff read them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
