from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.catalogue import ensure_catalogue_after_migrate

        post_migrate.connect(ensure_catalogue_after_migrate, sender=self)
        # Stripe webhook receivers register themselves on import.
        from billing import webhooks  # noqa: F401
        from billing.stripe_gateway import stripe_configure

        stripe_configure()
