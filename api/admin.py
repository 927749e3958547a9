"""Service keys in the admin: list and revoke (keys are created by a command)."""

from __future__ import annotations

from django.contrib import admin, messages
from unfold.admin import ModelAdmin

from api.models import ServiceKey
from api.service_keys import service_key_revoke


@admin.register(ServiceKey)
class ServiceKeyAdmin(ModelAdmin):
    empty_list_help = (
        "Keys are created with `manage.py create_service_key NAME`, which prints the key "
        "once; only its digest is kept."
    )
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

    @admin.action(
        description="Revoke selected keys (they stop working at once)", permissions=["change"]
    )
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            service_key_revoke(key=key)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)
