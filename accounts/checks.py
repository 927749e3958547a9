"""System checks of settings that only make sense together."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# The SMTP replies one send may wait for, each up to EMAIL_TIMEOUT: MAIL, RCPT, DATA and the
# end of the data on an open connection; connect, greeting, EHLO, STARTTLS, EHLO and AUTH when
# the connection has to be opened again.
SMTP_REPLIES_PER_SEND = 10


@checks.register()
def outbox_lease_outlasts_one_send(app_configs, **kwargs):
    """A worker renews an e-mail's lease right before sending it; the send must end (or time
    out) before the lease does, or another worker could send it too. EMAIL_TIMEOUT bounds
    each SMTP reply, not the send: the lease must outlast all the replies of one."""
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or 0
    if timeout and timeout * SMTP_REPLIES_PER_SEND >= settings.OUTBOX_LEASE_SECONDS:
        return [
            checks.Warning(
                f"OUTBOX_LEASE_SECONDS ({settings.OUTBOX_LEASE_SECONDS}) must be longer than "
                f"one send can take: {SMTP_REPLIES_PER_SEND} SMTP replies of up to "
                f"EMAIL_TIMEOUT ({timeout} s) each.",
                hint=f"Raise OUTBOX_LEASE_SECONDS above {timeout * SMTP_REPLIES_PER_SEND} or "
                "lower EMAIL_TIMEOUT.",
                id="accounts.W001",
            )
        ]
    return []


@checks.register(deploy=True)
def shared_cache_in_production(app_configs, **kwargs):
    """Rate limits, the Stripe call budget and job progress are counted in the cache: a
    per-process memory cache multiplies the limits by the number of worker processes."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            checks.Warning(
                "The cache is each process's own memory (CACHE_URL unset): with several "
                "gunicorn workers every rate limit, and the Stripe calls-per-second budget, is "
                "multiplied by the number of processes.",
                hint="Set CACHE_URL=rediscache://HOST:6379/1 (a cache all processes share).",
                id="accounts.W002",
            )
        ]
    return []
