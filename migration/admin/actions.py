"""The migration actions of the customer list: one per operation, each opening its
confirmation page (`views.CustomerMigrationActionsMixin.migration_action_view`)."""

from __future__ import annotations

from django.contrib import admin

from accounts.models import BatchKind
from migration.batches.operations import NOTICE

ACTION_TEXT = {
    BatchKind.REMAP: (
        "Remap plan",
        "Move each customer now to the session plan its legacy plan maps to.",
    ),
    BatchKind.GRANDFATHER: (
        "Grandfather",
        "Let each customer keep its legacy plan for some months, then move automatically.",
    ),
    BatchKind.END_GRANDFATHERING: (
        "End grandfathering now",
        "Move each grandfathered customer now to the plan it was told it would move to.",
    ),
    BatchKind.EXTEND: (
        "Extend grandfathering",
        "Add months to each customer's grandfathering end date.",
    ),
    BatchKind.EXEMPT: (
        "Exempt from migration",
        "Keep each customer on its legacy plan for good (cancels its grandfathering end).",
    ),
    BatchKind.REMOVE_EXEMPTION: (
        "Remove migration exemption",
        "Make each customer movable again by batches and grandfathering.",
    ),
    NOTICE: (
        "Send migration notice",
        "E-mail each grandfathered customer its new plan, quota, price and the date of the "
        "move (once per customer and date).",
    ),
}


def _migration_action(kind: str):
    title, _ = ACTION_TEXT[kind]

    @admin.action(description=f"{title}…", permissions=["change"])
    def action(modeladmin, request, queryset):
        return modeladmin.migration_action_view(request, queryset, kind=kind)

    action.__name__ = "send_migration_notice" if kind == NOTICE else f"migration_{kind}"
    return action


remap_plan = _migration_action(BatchKind.REMAP)
grandfather = _migration_action(BatchKind.GRANDFATHER)
end_grandfathering = _migration_action(BatchKind.END_GRANDFATHERING)
extend_grandfathering = _migration_action(BatchKind.EXTEND)
exempt_from_migration = _migration_action(BatchKind.EXEMPT)
remove_migration_exemption = _migration_action(BatchKind.REMOVE_EXEMPTION)
send_migration_notice = _migration_action(NOTICE)

# Descriptions as staff know them ("…" marks the ones that ask for more on their page).
end_grandfathering.short_description = "End grandfathering now"
exempt_from_migration.short_description = "Exempt from migration"
remove_migration_exemption.short_description = "Remove migration exemption"
send_migration_notice.short_description = "Send migration notice"

MIGRATION_ACTIONS = [
    remap_plan,
    grandfather,
    end_grandfathering,
    extend_grandfathering,
    exempt_from_migration,
    remove_migration_exemption,
    send_migration_notice,
]
