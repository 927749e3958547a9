from django.apps import AppConfig


class MigrationConfig(AppConfig):
    """Moving customers to session plans: batches, grandfathering, rollback, legacy import."""

    name = "migration"
    verbose_name = "Move to session plans"

    def ready(self) -> None:
        # Registers the scheduled jobs and what the admin's background jobs do.
        from migration import jobs, schedules  # noqa: F401
