"""Demo data for `make run`: customers on every plan, three months of history, logins."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import ChangeSource, Customer, Plan, PlanChange, Project
from accounts.periods import Period, add_months, period_of
from accounts.services.customers import customer_get_or_create
from accounts.services.plan_change import customer_change_plan, customer_set_migration_state
from migration.importing.run import legacy_samples_import
from usage.models import Session, SessionStatus
from usage.services import usage_recount

DEMO_PASSWORD = "demo"  # noqa: S105 - printed by `make run`, demo data only

# (user_id, plan, percent of quota used this month, demo login?)
DEMO_CUSTOMERS = [
    ("demo-free", "free", 35, True),
    ("demo-starter", "starter", 42, True),
    ("demo-growth", "growth", 18, True),
    ("demo-near-limit", "starter", 86, True),
    ("demo-legacy", "legacy_pro", 55, True),
    ("demo-full", "free", 100, False),
    ("demo-starter-full", "starter", 100, False),
    ("demo-legacy-free", "legacy_free", 70, False),
    ("demo-legacy-starter", "legacy_starter", 91, False),
    ("demo-legacy-build", "legacy_build", 64, False),
    ("demo-legacy-agency", "legacy_agency", 30, False),
] + [
    (f"cust-{n:03d}", plan, pct, False)
    for n, (plan, pct) in enumerate(
        [
            ("free", 12),
            ("free", 81),
            ("free", 55),
            ("starter", 23),
            ("starter", 79),
            ("growth", 9),
            ("legacy_build", 40),
            ("legacy_pro", 83),
            ("legacy_starter", 15),
            ("legacy_agency", 61),
            ("legacy_free", 100),
            ("starter", 3),
        ],
        start=1,
    )
]
HISTORY_MONTHS = 3
FAILURE_RATE = 0.06


class Command(BaseCommand):
    help = "Load demo customers, logins and three months of session history (idempotent)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo makes logins with the password 'demo': it only runs with DEBUG=true "
                "(a developer's machine), never on a production database."
            )
        now = timezone.now()
        plans = {plan.code: plan for plan in Plan.objects.all()}
        made_sessions = 0
        for index, (user_id, plan_code, percent, login) in enumerate(DEMO_CUSTOMERS, start=1):
            customer = self._customer(user_id, plans[plan_code], login=login, now=now)
            if not Session.objects.filter(customer=customer).exists():
                made_sessions += self._history(customer, percent, now)
            self.stdout.write(f"\r  customers {index}/{len(DEMO_CUSTOMERS)}", ending="")
            self.stdout.flush()
        self.stdout.write("")
        # The old system's customers, through the same import staff run (samples/).
        imported = legacy_samples_import(actor="seed_demo")
        self.stdout.write(
            f"Legacy customers from samples/: {imported.customers}; "
            f"their monthly usage: {imported.usage}."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(DEMO_CUSTOMERS)} customers, {made_sessions:,} new sessions."
            )
        )
        logins = ", ".join(user_id for user_id, *_rest, login in DEMO_CUSTOMERS if login)
        self.stdout.write(f"Demo logins (password '{DEMO_PASSWORD}'): {logins}")

    def _customer(self, user_id: str, plan: Plan, *, login: bool, now) -> Customer:
        with transaction.atomic():
            customer, created = customer_get_or_create(
                external_id=user_id,
                email=f"{user_id}@example.com",
                source=ChangeSource.SYSTEM,
                actor="seed_demo",
            )
            if created and customer.plan_id != plan.pk:
                customer_change_plan(
                    customer=customer,
                    plan=plan,
                    source=ChangeSource.SYSTEM,
                    actor="seed_demo",
                    reason="Demo data",
                )
            if created:
                # Signed up on this plan before the 12 months the pages show: each past month
                # is measured against it, not against the Free plan every customer starts on.
                signed_up = add_months(period_of(now).starts_at, -13)
                Customer.objects.filter(pk=customer.pk).update(created_at=signed_up)
                PlanChange.objects.filter(customer=customer).update(created_at=signed_up)
            if created and plan.is_legacy and user_id == "demo-legacy":
                customer_set_migration_state(
                    customer=customer,
                    source=ChangeSource.SYSTEM,
                    actor="seed_demo",
                    reason="Demo data: grandfathered",
                    grandfathered_until=add_months(now, 2),
                    grandfather_plan=plan.migrates_to,
                )
            if login and customer.user_id is None:
                user = get_user_model().objects.filter(username=user_id).first()
                if user is None:
                    user = get_user_model().objects.create_user(
                        username=user_id, email=customer.email, password=DEMO_PASSWORD
                    )
                Customer.objects.filter(pk=customer.pk).update(user=user)
        return customer

    @transaction.atomic
    def _history(self, customer: Customer, percent: int, now) -> int:
        rng = random.Random(customer.external_id)
        plan = customer.plan
        project = Project.objects.get_or_create(customer=customer, project_id="default")[0]
        current = period_of(now)
        periods = [current]
        for _ in range(HISTORY_MONTHS):
            periods.append(periods[-1].previous())
        made = 0
        for period in periods:
            month_percent = percent if period == current else rng.randint(10, 45)
            sessions = self._month(customer, project, plan, period, month_percent, now, rng)
            Session.objects.bulk_create(sessions, batch_size=2000, ignore_conflicts=True)
            usage_recount(customer=customer, period=period.start)
            made += len(sessions)
        return made

    def _month(self, customer, project, plan, period: Period, percent, now, rng) -> list[Session]:
        """Sessions whose billable use is `percent` of the plan's quota."""
        start = period.starts_at
        end = min(period.ends_at, now)
        span = (end - start).total_seconds()
        target = plan.quota * percent / 100
        sessions: list[Session] = []
        used = Decimal(0)
        while used < target:
            minutes = Decimal(str(round(max(0.2, rng.gammavariate(2.0, 1.0)), 2)))
            failed = rng.random() < FAILURE_RATE
            started = start + timedelta(seconds=rng.random() * span)
            sessions.append(
                Session(
                    session_id=f"demo-{customer.external_id}-{period.label}-{len(sessions):05d}",
                    customer=customer,
                    project=project,
                    period=period.start,
                    status=SessionStatus.FAILED if failed else SessionStatus.SUCCEEDED,
                    started_at=started,
                    ended_at=min(started + timedelta(minutes=float(minutes)), now),
                    minutes=minutes,
                )
            )
            if not failed:
                used += minutes if plan.bills_minutes else 1
        return sessions
