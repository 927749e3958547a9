"""The dj-stripe WebhookEndpoint row behind /webhooks/stripe, made from the environment."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from djstripe.models import WebhookEndpoint

from billing.services.stripe_webhook_endpoint import WEBHOOK_EVENTS, webhook_endpoint_get

pytestmark = pytest.mark.django_db


def sync() -> str:
    out = StringIO()
    call_command("sync_stripe_webhook_endpoint", stdout=out)
    return out.getvalue()


def test_sync_twice_makes_one_row(settings):
    assert "created" in sync()
    out = sync()
    assert "unchanged" in out
    assert "http://127.0.0.1:8000/webhooks/stripe" in out or settings.SITE_URL in out
    assert ", ".join(WEBHOOK_EVENTS) in out
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.id == settings.STRIPE_WEBHOOK_ENDPOINT_ID
    assert endpoint.secret == settings.STRIPE_WEBHOOK_SECRET
    assert endpoint.enabled_events == WEBHOOK_EVENTS
    assert endpoint.url == settings.SITE_URL.rstrip("/") + "/webhooks/stripe"
    assert endpoint.api_version == settings.STRIPE_API_VERSION
    assert endpoint.livemode is False
    assert endpoint.djstripe_validation_method == "verify_signature"


def test_a_rotated_secret_or_weakened_validation_is_corrected(settings):
    sync()
    uuid = WebhookEndpoint.objects.get().djstripe_uuid
    settings.STRIPE_WEBHOOK_SECRET = "whsec_rotated"
    assert "updated" in sync()
    WebhookEndpoint.objects.update(djstripe_validation_method="none")
    endpoint = webhook_endpoint_get()
    assert endpoint.secret == "whsec_rotated"
    assert endpoint.djstripe_validation_method == "verify_signature"
    assert endpoint.djstripe_uuid == uuid  # dj-stripe's own URL for it stays the same
    assert WebhookEndpoint.objects.count() == 1


def test_without_a_secret_the_command_fails(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET"):
        sync()
    assert webhook_endpoint_get() is None
    assert not WebhookEndpoint.objects.exists()


def test_djstripe_checks_pass_with_the_row():
    sync()
    issues = [issue for issue in run_checks() if issue.id and issue.id.startswith("djstripe.")]
    assert issues == []
    # The database-dependent check does see rows: an endpoint without a secret is reported.
    WebhookEndpoint.objects.create(
        id="we_without_secret", url="https://x.test/", enabled_events=["*"], status="enabled"
    )
    assert "djstripe.W005" in {issue.id for issue in run_checks()}
