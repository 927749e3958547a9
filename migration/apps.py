from django.apps import AppConfig


class MigrationConfig(AppConfig):
    """Moving customers to session plans: batches, grandfathering, rollback, legacy import."""

    name = "migration"
    verbose_name = "Move to session plans"

    def ready(self) -> None:
        from migration import schedules  # noqa: F401  (registers the scheduled jobs)
