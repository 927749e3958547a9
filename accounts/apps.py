from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    """The bottom layer: plans, customers, projects, the plan-change service and its audit."""

    name = "accounts"
    verbose_name = "Plans and customers"

    def ready(self) -> None:
        from accounts import checks, schedules  # noqa: F401  (system checks, scheduled jobs)
        from accounts.catalogue import ensure_catalogue_after_migrate

        post_migrate.connect(ensure_catalogue_after_migrate, sender=self)
