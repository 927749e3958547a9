import pytest

from accounts.catalogue import catalogue_seed
from accounts.models import Plan

EXPECTED = {
    # code: (unit, sessions, minutes, price, rpm, concurrent, projects, badge, support, sla,
    #        maps to)
    "free": ("sessions", 100, 200, 0, 100, 1, 1, True, "community", "", None),
    "starter": ("sessions", 5000, 10000, 2900, 1000, 10, 3, False, "email-48h", "", None),
    "growth": ("sessions", 20000, 40000, 9900, 10000, 50, 10, False, "email-24h", "99.9%", None),
    "legacy_free": ("minutes", None, 200, 0, 100, 1, 1, True, "community", "", "free"),
    "legacy_starter": ("minutes", None, 1500, 900, 1000, 10, 3, False, "email-48h", "", "starter"),
    "legacy_build": ("minutes", None, 3000, 1900, 1000, 10, 3, False, "email-48h", "", "starter"),
    "legacy_pro": (
        "minutes",
        None,
        8000,
        3900,
        10000,
        50,
        10,
        False,
        "email-24h",
        "99.9%",
        "growth",
    ),
    "legacy_agency": (
        "minutes",
        None,
        25000,
        9900,
        10000,
        50,
        10,
        False,
        "email-24h",
        "99.9%",
        "growth",
    ),
}


@pytest.mark.django_db
def test_catalogue_holds_every_figure_of_the_spec():
    plans = {plan.code: plan for plan in Plan.objects.select_related("migrates_to")}
    assert set(plans) == set(EXPECTED)
    for code, expected in EXPECTED.items():
        plan = plans[code]
        actual = (
            plan.billing_unit,
            plan.included_sessions,
            plan.included_minutes,
            plan.price_cents,
            plan.requests_per_minute,
            plan.max_concurrent_sessions,
            plan.max_projects,
            plan.badge,
            plan.support,
            plan.sla,
            plan.migrates_to.code if plan.migrates_to else None,
        )
        assert actual == expected, code
        assert plan.is_legacy == code.startswith("legacy_")
        assert plan.is_public == (not plan.is_legacy)


@pytest.mark.django_db
def test_seeding_again_keeps_staff_edits():
    Plan.objects.filter(code="starter").update(included_sessions=6000)
    assert catalogue_seed(Plan) == 0
    assert Plan.objects.get(code="starter").included_sessions == 6000
    assert Plan.objects.count() == 8


@pytest.mark.django_db
def test_a_session_plan_without_session_quota_is_refused_by_the_database():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Plan.objects.filter(code="growth").update(included_sessions=None)
