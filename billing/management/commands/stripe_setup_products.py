"""Create or reuse the Stripe products and monthly prices of the paid plans (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.errors import BillingError
from billing.services.stripe_products import stripe_mode, stripe_products_setup


class Command(BaseCommand):
    help = (
        'Create or reuse the Stripe products "AI Gate - Starter" and "AI Gate - Growth" with '
        "their monthly prices, sync them into dj-stripe, link our plans, save the ids to a JSON "
        "file and print the matching environment lines. A second run changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--mode",
            choices=["test", "live"],
            help="Stripe mode; must match STRIPE_SECRET_KEY (default: the key's mode).",
        )
        parser.add_argument(
            "--output",
            help="JSON file for the ids (default: stripe-ids-sessions.<mode>.json).",
        )

    def handle(self, *args, mode=None, output=None, **options):
        mode = mode or stripe_mode()
        try:
            setup = stripe_products_setup(mode=mode)
        except BillingError as exc:
            raise CommandError(exc.detail) from exc
        for plan in setup.plans:
            for action in plan.actions:
                self.stdout.write(f"  {action}")
        if setup.changed:
            self.stdout.write(self.style.SUCCESS(f"Stripe products and prices set up ({mode})."))
        else:
            self.stdout.write(
                f"Nothing changed: the {mode} products and prices already exist and the plans "
                "are linked to them."
            )
        path = Path(output or f"stripe-ids-sessions.{mode}.json")
        document = {
            "mode": mode,
            "api_version": settings.STRIPE_API_VERSION,
            "plans": {plan.plan: plan.as_dict() for plan in setup.plans},
            "env": setup.env,
        }
        text = json.dumps(document, indent=2) + "\n"
        if path.exists() and path.read_text() == text:
            self.stdout.write(f"{path} is up to date.")
        else:
            path.write_text(text)
            self.stdout.write(f"Wrote {path}.")
        self.stdout.write("Environment lines (.env):")
        for name, value in setup.env.items():
            self.stdout.write(f"{name}={value}")
