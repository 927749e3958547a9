"""Create or correct the dj-stripe WebhookEndpoint row that verifies /webhooks/stripe."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS, webhook_endpoint_sync


class Command(BaseCommand):
    help = (
        "Create or correct, from STRIPE_WEBHOOK_SECRET and STRIPE_WEBHOOK_ENDPOINT_ID, the local "
        "dj-stripe webhook endpoint row that /webhooks/stripe verifies signatures with. Makes "
        "no Stripe call; idempotent."
    )

    def handle(self, *args, **options):
        try:
            endpoint, action = webhook_endpoint_sync()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Webhook endpoint {endpoint.id}: {action}.")
        self.stdout.write(f"Register at Stripe: {endpoint.url}")
        self.stdout.write(f"Events: {', '.join(WEBHOOK_EVENTS)}")
