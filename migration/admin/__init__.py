"""The admin of the move to session plans: customers with their usage and the migration
actions, batches with their reports, the legacy import and the export."""

from migration.admin import batches, customers, import_export  # noqa: F401
