from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Stripe: products, Checkout, subscriptions, webhooks and the price-move outbox."""

    name = "billing"
    verbose_name = "Billing (Stripe)"

    def ready(self) -> None:
        # Stripe webhook receivers register themselves on import.
        from billing import webhooks  # noqa: F401
        from billing.stripe_gateway import stripe_configure

        stripe_configure()
