from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Stripe: products, Checkout, subscriptions, webhooks and the price-move outbox."""

    name = "billing"
    verbose_name = "Billing (Stripe)"

    def ready(self) -> None:
        from accounts.services.plan_change import plan_changed

        # Webhook receivers, scheduled jobs and /metrics figures register themselves.
        from billing import monitoring, schedules, webhooks  # noqa: F401
        from billing.services.stripe_price_moves import price_moves_on_plan_change
        from billing.stripe_gateway import stripe_configure

        # A plan change calls for a Stripe price move: recorded in the same transaction.
        plan_changed.connect(price_moves_on_plan_change, dispatch_uid="billing.price_moves")
        stripe_configure()
