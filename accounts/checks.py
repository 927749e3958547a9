"""System checks of settings that only make sense together."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register()
def outbox_lease_outlasts_one_send(app_configs, **kwargs):
    """A worker renews an e-mail's lease right before sending it; the send must end (or time
    out) before the lease does, or another worker could send it too."""
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or 0
    if timeout and timeout >= settings.OUTBOX_LEASE_SECONDS:
        return [
            checks.Warning(
                f"OUTBOX_LEASE_SECONDS ({settings.OUTBOX_LEASE_SECONDS}) must be longer than "
                f"EMAIL_TIMEOUT ({timeout}).",
                hint="Raise OUTBOX_LEASE_SECONDS or lower EMAIL_TIMEOUT.",
                id="accounts.W001",
            )
        ]
    return []
