"""Serve the local Stripe stand-in (development and tests only; never in production)."""

from __future__ import annotations

import contextlib
import errno
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from devtools.stripe_standin import DEFAULT_ENABLED_EVENTS, StripeStandin


class Command(BaseCommand):
    help = (
        "Serve a local stand-in for Stripe's API with test helpers, sending signed webhooks "
        "to --webhook-url. Point the portal at it with STRIPE_API_BASE=http://127.0.0.1:PORT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=12111)
        parser.add_argument("--webhook-url", help="Where events are POSTed.")
        parser.add_argument("--webhook-secret", help="The whsec_ secret events are signed with.")
        parser.add_argument(
            "--events",
            default=",".join(DEFAULT_ENABLED_EVENTS),
            help="Comma-separated event types to deliver ('*' for all).",
        )
        parser.add_argument(
            "--state-file",
            help="Keep the stand-in's objects in this JSON file across restarts.",
        )
        parser.add_argument(
            "--latency-ms",
            type=int,
            default=0,
            help="Delay every API answer this many ms (real Stripe: 200-500 ms).",
        )
        parser.add_argument(
            "--fail-rate",
            type=float,
            default=0.0,
            help="Answer this share of API calls (0-1) with a 500, as a failing Stripe would.",
        )
        parser.add_argument(
            "--public-url",
            help="Base URL browsers reach the stand-in at (default http://HOST:PORT).",
        )

    def handle(
        self,
        *args,
        host,
        port,
        webhook_url,
        webhook_secret,
        events,
        public_url,
        state_file,
        latency_ms,
        fail_rate,
        **_,
    ):
        if latency_ms < 0 or not 0 <= fail_rate <= 1:
            raise CommandError("--latency-ms must be 0 or more and --fail-rate from 0 to 1.")
        if settings.STRIPE_LIVE_MODE:
            raise CommandError("Refusing to run the Stripe stand-in with a live Stripe key.")
        if bool(webhook_url) != bool(webhook_secret):
            raise CommandError("--webhook-url and --webhook-secret go together.")
        logging.getLogger("devtools.stripe_standin").setLevel(logging.INFO)
        try:
            standin = StripeStandin(
                host=host,
                port=port,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
                enabled_events=[e.strip() for e in events.split(",") if e.strip()],
                public_url=public_url,
                quiet=False,
                state_file=state_file,
                latency_ms=latency_ms,
                fail_rate=fail_rate,
            )
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise CommandError(
                f"Port {port} is already in use (another stand-in?): stop what listens there, "
                "or choose another port (make run STANDIN_PORT=12112)."
            ) from None
        self.stdout.write(f"Stripe stand-in on {standin.url}")
        if webhook_url:
            self.stdout.write(f"Webhooks → {webhook_url} ({events})")
        with contextlib.suppress(KeyboardInterrupt):
            standin.serve_forever()
