"""Operational figures for monitoring: refusal counters (shared cache) and database gauges.

`GET /metrics` (service key) serves them in Prometheus' text format.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from accounts.models import Customer
from accounts.monitoring import GAUGES
from accounts.periods import period_of
from api.metrics import CACHE_FAILURES, REFUSAL_CODES, cache_get, cache_up
from usage.models import MonthlyUsage, Session, SessionStatus


def month_totals(now: datetime) -> dict:
    """This month's counters summed over every customer (one query)."""
    return MonthlyUsage.objects.filter(period=period_of(now).start).aggregate(
        total=Sum("total_sessions", default=0),
        successful=Sum("successful_sessions", default=0),
        failed=Sum("failed_sessions", default=0),
        minutes=Sum("total_minutes", default=0),
    )


# A verified delivery waits this long for a worker before it counts as failed (lost, stuck).
WEBHOOK_WAIT = timedelta(minutes=15)


def webhook_failures_last_24h(now: datetime) -> int:
    """Verified Stripe deliveries of the last 24 hours whose processing failed (an error was
    recorded on it), or that no worker processed within WEBHOOK_WAIT; one still waiting for
    its worker is not a failure."""
    return (
        WebhookEventTrigger.objects.filter(
            created__gte=now - timedelta(days=1), valid=True, processed=False
        )
        .filter(~Q(exception="") | Q(created__lt=now - WEBHOOK_WAIT))
        .count()
    )


def metrics_snapshot() -> list[tuple[str, str, dict, float]]:
    """(name, type, labels, value) for every figure."""

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.SESSION_STALE_AFTER)
    rows: list[tuple[str, str, dict, float]] = []
    open_sessions = Session.objects.filter(
        status=SessionStatus.ACTIVE, started_at__gt=stale_before
    ).count()
    rows.append(("aigate_sessions_open", "gauge", {}, open_sessions))
    month = month_totals(now)
    rows.append(("aigate_sessions_this_month", "gauge", {"outcome": "all"}, month["total"]))
    rows.append(("aigate_sessions_this_month", "gauge", {"outcome": "failed"}, month["failed"]))
    rows.append(("aigate_minutes_this_month", "gauge", {}, float(month["minutes"])))
    for row in Customer.objects.values("plan__code", "status").annotate(n=Count("id")):
        labels = {"plan": row["plan__code"], "status": row["status"]}
        rows.append(("aigate_customers", "gauge", labels, row["n"]))
    rows.append(
        (
            "aigate_customers_grandfathered",
            "gauge",
            {},
            Customer.objects.filter(grandfathered_until__isnull=False).count(),
        )
    )
    for code in REFUSAL_CODES:
        value = cache_get(f"metrics:refusals:{code}")
        rows.append(("aigate_refusals_total", "counter", {"code": code}, value))
    # Refused deliveries are not stored (nothing is before the signature holds): counted.
    for code in ("bad_signature", "not_an_event", "too_large"):
        value = cache_get(f"metrics:webhooks_refused:{code}")
        rows.append(("aigate_webhooks_refused_total", "counter", {"code": code}, value))
    failed = webhook_failures_last_24h(now)
    rows.append(("aigate_webhooks_last_24h", "gauge", {"result": "failed"}, failed))
    for gauge in GAUGES:  # the other layers' figures: queue, outboxes, jobs
        rows.extend(gauge(now))
    rows.append(("aigate_cache_up", "gauge", {}, int(cache_up())))
    for where, count in sorted(CACHE_FAILURES.items()):
        rows.append(("aigate_cache_failures_total", "counter", {"where": where}, count))
    return rows


def metrics_text() -> str:
    lines: list[str] = []
    typed: set[str] = set()
    for name, kind, labels, value in metrics_snapshot():
        if name not in typed:
            lines.append(f"# TYPE {name} {kind}")
            typed.add(name)
        label_text = ",".join(f'{key}="{val}"' for key, val in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {value}" if labels else f"{name} {value}")
    return "\n".join(lines) + "\n"
