"""What the admin's first page shows, read in a fixed number of queries: revenue now and after
the scheduled moves, customers per plan, the move to session plans, metering, and health.

Selectors only: plain data for the template, no formatting (that is the edge's job)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, F, Q, Sum, When
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import Customer, CustomerStatus, Plan
from accounts.monitoring import GAUGES
from api.metrics import REFUSAL_CODES, refusals_last_24h
from usage.metrics import month_totals, webhook_failures_last_24h
from usage.models import Session

WEEKS_AHEAD = 12
RECONCILE_TASK = "billing.services.reconcile.reconcile_with_stripe"


@dataclass(frozen=True)
class Revenue:
    """Monthly recurring revenue in cents: every customer not canceled pays its plan's price;
    after the scheduled moves, each grandfathered customer pays its next plan's."""

    now_cents: int
    after_moves_cents: int
    currency: str
    paying: int

    @property
    def change_cents(self) -> int:
        return self.after_moves_cents - self.now_cents


def revenue() -> Revenue:
    moving = Q(grandfathered_until__isnull=False, migration_exempt=False)
    totals = Customer.objects.exclude(status=CustomerStatus.CANCELED).aggregate(
        now=Sum("plan__price_cents", default=0),
        after=Sum(
            Case(
                When(moving, then=F("grandfather_plan__price_cents")),
                default=F("plan__price_cents"),
            ),
            default=0,
        ),
        paying=Count("id", filter=Q(plan__price_cents__gt=0)),
    )
    currency = Plan.objects.values_list("currency", flat=True).first() or "usd"
    return Revenue(totals["now"], totals["after"], currency, totals["paying"])


@dataclass(frozen=True)
class PlanCount:
    name: str
    customers: int


def customers_per_plan() -> list[PlanCount]:
    """Every plan with at least one customer, session plans first (the catalogue's order)."""
    plans = (
        Plan.objects.annotate(n=Count("customers"))
        .filter(n__gt=0)
        .order_by("is_legacy", "sort_order")
    )
    return [PlanCount(plan.name, plan.n) for plan in plans]


@dataclass(frozen=True)
class Funnel:
    """Where customers are in the move to session plans."""

    on_legacy: int  # on a legacy plan, neither grandfathered nor exempt: not started
    grandfathered: int  # on a legacy plan until their date, then moved automatically
    exempt: int  # kept on a legacy plan for good
    moved: int  # on a session plan now, having been on a legacy one


def migration_funnel() -> Funnel:
    legacy = Customer.objects.filter(plan__is_legacy=True).aggregate(
        grandfathered=Count(
            "id", filter=Q(grandfathered_until__isnull=False, migration_exempt=False)
        ),
        exempt=Count("id", filter=Q(migration_exempt=True)),
        waiting=Count("id", filter=Q(grandfathered_until__isnull=True, migration_exempt=False)),
    )
    moved = (
        Customer.objects.filter(plan__is_legacy=False, plan_changes__from_plan__is_legacy=True)
        .values("id")
        .distinct()
        .count()
    )
    return Funnel(legacy["waiting"], legacy["grandfathered"], legacy["exempt"], moved)


@dataclass(frozen=True)
class WeekCount:
    starts: datetime  # Monday 00:00 UTC
    customers: int


def grandfathering_ends_per_week(*, now: datetime | None = None) -> tuple[int, list[WeekCount]]:
    """(ended and waiting for the move, [customers whose grandfathering ends in each of the
    next WEEKS_AHEAD weeks, this week first])."""
    now = now or timezone.now()
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    weeks = [monday + timedelta(weeks=n) for n in range(WEEKS_AHEAD + 1)]
    ends = Customer.objects.filter(grandfathered_until__isnull=False, migration_exempt=False)
    counts = ends.aggregate(
        overdue=Count("id", filter=Q(grandfathered_until__lte=now)),
        **{
            f"week{n}": Count(
                "id",
                filter=Q(grandfathered_until__gte=start, grandfathered_until__lt=weeks[n + 1])
                & Q(grandfathered_until__gt=now),
            )
            for n, start in enumerate(weeks[:-1])
        },
    )
    return counts["overdue"], [
        WeekCount(start, counts[f"week{n}"]) for n, start in enumerate(weeks[:-1])
    ]


@dataclass(frozen=True)
class Metering:
    sessions_today: int  # started since midnight UTC
    sessions_month: int  # successful this month: the billing unit
    failed_month: int
    minutes_month: int
    refusals: dict[str, int]  # by code, last 24 hours


def metering(*, now: datetime | None = None) -> Metering:
    now = now or timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = month_totals(now)
    refusals = refusals_last_24h(now=now)
    return Metering(
        sessions_today=Session.objects.filter(started_at__gte=midnight).count(),
        sessions_month=month["successful"],
        failed_month=month["failed"],
        minutes_month=int(month["minutes"]),
        refusals={code: refusals.get(code, 0) for code in REFUSAL_CODES},
    )


@dataclass(frozen=True)
class Reconciliation:
    status: str  # the task's: READY, RUNNING, SUCCESSFUL, FAILED
    at: datetime  # finished, or queued when it has not finished
    checked: int | None
    drifted: int | None
    errors: int | None


@dataclass(frozen=True)
class Health:
    webhook_failures: int  # verified deliveries of the last 24 h not processed
    gauges: dict[tuple[str, str], float]  # (metric, its label value) from the monitoring registry
    reconciliation: Reconciliation | None

    def gauge(self, name: str, label: str = "") -> int:
        return int(self.gauges.get((name, label), 0))


def health(*, now: datetime | None = None) -> Health:
    now = now or timezone.now()
    gauges = {}
    for gauge in GAUGES:  # the task queue, the e-mail outbox, Stripe price moves, jobs
        for name, _, labels, value in gauge(now):
            gauges[(name, next(iter(labels.values()), ""))] = value
    return Health(webhook_failures_last_24h(now), gauges, last_reconciliation())


def last_reconciliation() -> Reconciliation | None:
    """The newest run of the daily reconciliation task (the scheduler queues it)."""
    run = DBTaskResult.objects.filter(task_path=RECONCILE_TASK).order_by("-enqueued_at").first()
    if run is None:
        return None
    result = run.return_value if isinstance(run.return_value, dict) else {}
    done = run.status == TaskResultStatus.SUCCESSFUL
    return Reconciliation(
        status=run.status,
        at=run.finished_at or run.enqueued_at,
        checked=result.get("checked") if done else None,
        drifted=len(result.get("drifted", [])) if done else None,
        errors=len(result.get("errors", [])) if done else None,
    )
