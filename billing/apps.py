from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Stripe: products, Checkout, subscriptions, webhooks and the price-move outbox."""

    name = "billing"
    verbose_name = "Billing (Stripe)"

    def ready(self) -> None:
        from accounts.services.plan_change import plan_change_scheduled, plan_changed
        from accounts.services.scheduled_plan import paid_period_end_register

        # Webhook receivers, scheduled jobs and /metrics figures register themselves.
        from billing import monitoring, schedules, webhooks  # noqa: F401
        from billing.selectors import subscription_period_end
        from billing.services.stripe_price_moves import (
            cancellation_on_plan_scheduled,
            price_moves_on_plan_change,
        )
        from billing.stripe_gateway import stripe_configure

        # A plan change calls for a Stripe price move: recorded in the same transaction.
        plan_changed.connect(price_moves_on_plan_change, dispatch_uid="billing.price_moves")
        # A move to Free at the period's end (or its undo) sets the subscription's renewal.
        plan_change_scheduled.connect(
            cancellation_on_plan_scheduled, dispatch_uid="billing.cancellation"
        )
        paid_period_end_register(subscription_period_end)
        stripe_configure()
