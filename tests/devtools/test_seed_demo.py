"""`manage.py seed_demo`: customers on every plan with months of sessions, and the legacy
samples imported, idempotently."""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Customer, Plan, PlanChange
from usage.models import MonthlyUsage, Session
from usage.selectors import usage_history_for, usage_summary


@pytest.mark.django_db
@time_machine.travel("2026-11-20T12:00:00Z", tick=False)
def test_seed_demo_covers_every_plan_and_is_idempotent(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    counts = (Customer.objects.count(), Session.objects.count(), PlanChange.objects.count())
    assert set(Customer.objects.values_list("plan__code", flat=True)) == set(
        Plan.objects.values_list("code", flat=True)
    )
    # three months of history before this one
    periods = set(MonthlyUsage.objects.values_list("period", flat=True))
    assert {p.isoformat() for p in periods} >= {
        "2026-08-01",
        "2026-09-01",
        "2026-10-01",
        "2026-11-01",
    }
    near = usage_summary(external_id="demo-near-limit")
    assert 80 <= near.percent_used < 100
    assert usage_summary(external_id="demo-full").percent_used == 100
    legacy = Customer.objects.get(external_id="demo-legacy")
    assert legacy.plan.is_legacy and legacy.grandfathered_until and legacy.grandfather_plan
    for login in ["demo-free", "demo-starter", "demo-growth", "demo-near-limit", "demo-legacy"]:
        customer = Customer.objects.get(external_id=login)
        assert customer.user.check_password("demo")
    # counters agree with the sessions they summarise
    for row in MonthlyUsage.objects.all()[:10]:
        assert (
            row.total_sessions
            == Session.objects.filter(customer=row.customer, period=row.period).count()
        )

    # Each past month is measured against the customer's own plan (signed up before them).
    growth = Customer.objects.select_related("plan").get(external_id="demo-growth")
    assert {month.included for month in usage_history_for(growth)} == {20_000}

    call_command("seed_demo", stdout=StringIO())
    assert (Customer.objects.count(), Session.objects.count(), PlanChange.objects.count()) == counts


@pytest.mark.django_db
def test_seed_demo_imports_the_samples_idempotently(monkeypatch, settings):
    from devtools.management.commands import seed_demo

    settings.DEBUG = True
    monkeypatch.setattr(seed_demo, "DEMO_CUSTOMERS", [])  # only the samples, quickly
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert (
        "Legacy customers from samples/: 38 created, 0 updated, 0 unchanged; "
        "their monthly usage: 109 created, 0 updated, 0 unchanged." in out.getvalue()
    )
    call_command("seed_demo", stdout=out)
    assert (
        "Legacy customers from samples/: 0 created, 0 updated, 38 unchanged; "
        "their monthly usage: 0 created, 0 updated, 109 unchanged." in out.getvalue()
    )
    assert Customer.objects.filter(plan__is_legacy=True).count() == 38


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    """No production database gets logins whose password is "demo"."""
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only runs with DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())
    assert not Customer.objects.exists()
