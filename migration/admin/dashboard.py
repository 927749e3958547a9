"""The admin's first page (django-unfold's DASHBOARD_CALLBACK; `templates/admin/index.html`):
revenue now and after the scheduled moves, customers per plan, the move to session plans,
metering and health. Staff who may not view customers get the list of screens only."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from accounts.formatting import count, day, moment, money
from migration.dashboard import charts, figures

REFUSAL_NAMES = {
    "quota_exceeded": "Quota used up (402)",
    "concurrency_limit": "Too many open sessions (429)",
    "rate_limited": "Too many requests a minute (429)",
    "project_limit": "Too many projects (402)",
}
RECONCILE_STATES = {
    "SUCCESSFUL": "done",
    "FAILED": "failed",
    "RUNNING": "running",
    "READY": "queued",
}


def dashboard_callback(request, context: dict) -> dict:
    if not request.user.has_perm("accounts.view_customer"):
        return context
    now = timezone.now()
    context["dashboard"] = {
        "revenue": _revenue(),
        "plans": charts.rows([(p.name, p.customers) for p in figures.customers_per_plan()]),
        "funnel": _funnel(),
        "ends": _grandfathering_ends(now),
        "metering": _metering(now),
        "health": _health(now),
        "customers_url": reverse("admin:accounts_customer_changelist"),
    }
    return context


def _revenue() -> dict:
    revenue = figures.revenue()
    change = revenue.change_cents
    return {
        "now": money(revenue.now_cents, revenue.currency),
        "after": money(revenue.after_moves_cents, revenue.currency),
        "change": ("+" if change > 0 else "") + money(change, revenue.currency),
        "rises": change > 0,
        "falls": change < 0,
        "paying": count(revenue.paying),
    }


def _funnel() -> dict:
    funnel = figures.migration_funnel()
    steps = [
        ("On a legacy plan, not started", funnel.on_legacy),
        ("Grandfathered (moving on their date)", funnel.grandfathered),
        ("Exempt (staying on legacy)", funnel.exempt),
        ("Moved to a session plan", funnel.moved),
    ]
    return {"bars": charts.rows(steps), "total": count(sum(value for _, value in steps))}


def _grandfathering_ends(now) -> dict:
    overdue, weeks = figures.grandfathering_ends_per_week(now=now)
    chart = charts.columns([(day(week.starts), week.customers) for week in weeks])
    return {
        "chart": chart,
        "labels": [
            {"text": f"{week.starts.day} {week.starts:%b}", "left": (i + 0.5) * 100 / len(weeks)}
            for i, week in enumerate(weeks)
            if i % 2 == 0
        ],
        "overdue": count(overdue),
        "total": count(sum(week.customers for week in weeks)),
        "top": count(chart.top),
    }


def _metering(now) -> dict:
    metering = figures.metering(now=now)
    refusals = charts.rows(
        [(REFUSAL_NAMES.get(code, code), value) for code, value in metering.refusals.items()]
    )
    return {
        "today": count(metering.sessions_today),
        "month": count(metering.sessions_month),
        "failed": count(metering.failed_month),
        "minutes": count(metering.minutes_month),
        "refusals": refusals,
        "refused": count(sum(metering.refusals.values())),
    }


def _health(now) -> dict:
    health = figures.health(now=now)
    checks = [
        _check(
            "Stripe webhooks",
            health.webhook_failures,
            f"{count(health.webhook_failures)} failed in 24 h",
            reverse("admin:djstripe_webhookeventtrigger_changelist") + "?processed__exact=0",
        ),
        _check(
            "E-mails",
            health.gauge("aigate_emails", "failed"),
            f"{count(health.gauge('aigate_emails', 'failed'))} failed, "
            f"{count(health.gauge('aigate_emails', 'pending'))} waiting",
            reverse("admin:accounts_emailnotification_changelist") + "?status__exact=failed",
        ),
        _check(
            "Task queue",
            health.gauge("aigate_task_queue", "failed"),
            f"{count(health.gauge('aigate_task_queue', 'waiting'))} waiting "
            f"(oldest {_age(health.gauge('aigate_task_queue_oldest_waiting_seconds'))}), "
            f"{count(health.gauge('aigate_task_queue', 'running'))} running, "
            f"{count(health.gauge('aigate_task_queue', 'failed'))} failed",
            reverse("admin:django_tasks_database_dbtaskresult_changelist"),
        ),
        _check(
            "Stripe price moves",
            health.gauge("aigate_stripe_price_moves", "failed"),
            f"{count(health.gauge('aigate_stripe_price_moves', 'failed'))} failed, "
            f"{count(health.gauge('aigate_stripe_price_moves', 'pending'))} waiting",
            reverse("admin:billing_stripepricemove_changelist") + "?status__exact=failed",
        ),
    ]
    run = health.reconciliation
    if run is None:
        checks.append(_check("Reconciliation with Stripe", 0, "never ran", ""))
    else:
        state = RECONCILE_STATES.get(run.status, run.status.lower())
        detail = f"{state} {moment(run.at)}"
        if run.checked is not None:
            detail += f": {count(run.checked)} checked, {count(run.drifted)} drifted"
            if run.errors:
                detail += f", {count(run.errors)} not checked"
        problems = (run.drifted or 0) + (run.errors or 0) + (run.status == "FAILED")
        checks.append(_check("Reconciliation with Stripe", problems, detail, ""))
    return {"checks": checks, "problems": sum(1 for check in checks if not check["ok"])}


def _check(name: str, problems: int, detail: str, url: str) -> dict:
    return {"name": name, "ok": not problems, "detail": detail, "url": url}


def _age(seconds: float) -> str:
    if not seconds:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
