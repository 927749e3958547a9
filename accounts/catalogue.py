"""The plan catalogue of SPEC.md, as data. Seeded by migration 0002 and ensured after migrate.

Seeding only creates plans that are missing: figures edited by staff in the admin are kept.
"""

from __future__ import annotations

SESSION_PLANS = [
    {
        "code": "free",
        "name": "Free",
        "billing_unit": "sessions",
        "included_sessions": 100,
        "included_minutes": 200,
        "price_cents": 0,
        "requests_per_minute": 100,
        "max_concurrent_sessions": 1,
        "max_projects": 1,
        "badge": True,
        "support": "community",
        "sla": "",
        "is_public": True,
        "sort_order": 1,
    },
    {
        "code": "starter",
        "name": "Starter",
        "billing_unit": "sessions",
        "included_sessions": 5000,
        "included_minutes": 10000,
        "price_cents": 2900,
        "requests_per_minute": 1000,
        "max_concurrent_sessions": 10,
        "max_projects": 3,
        "badge": False,
        "support": "email-48h",
        "sla": "",
        "is_public": True,
        "sort_order": 2,
    },
    {
        "code": "growth",
        "name": "Growth",
        "billing_unit": "sessions",
        "included_sessions": 20000,
        "included_minutes": 40000,
        "price_cents": 9900,
        "requests_per_minute": 10000,
        "max_concurrent_sessions": 50,
        "max_projects": 10,
        "badge": False,
        "support": "email-24h",
        "sla": "99.9%",
        "is_public": True,
        "sort_order": 3,
    },
]

# (code, name, minutes, price in cents, the session plan it maps to)
LEGACY_PLANS = [
    ("legacy_free", "Free (minutes, legacy)", 200, 0, "free"),
    ("legacy_starter", "Starter (minutes, legacy)", 1500, 900, "starter"),
    ("legacy_build", "Build (minutes, legacy)", 3000, 1900, "starter"),
    ("legacy_pro", "Pro (minutes, legacy)", 8000, 3900, "growth"),
    ("legacy_agency", "Agency (minutes, legacy)", 25000, 9900, "growth"),
]

# Limits the source does not give for legacy plans come from the plan each maps to.
_INHERITED = (
    "requests_per_minute",
    "max_concurrent_sessions",
    "max_projects",
    "badge",
    "support",
    "sla",
)


def catalogue_rows() -> list[dict]:
    """Every plan of the catalogue as field values; `migrates_to` is a plan code."""
    by_code = {plan["code"]: plan for plan in SESSION_PLANS}
    rows = [dict(plan, is_legacy=False, migrates_to=None) for plan in SESSION_PLANS]
    for order, (code, name, minutes, price, target) in enumerate(LEGACY_PLANS, start=10):
        inherited = {field: by_code[target][field] for field in _INHERITED}
        rows.append(
            {
                "code": code,
                "name": name,
                "billing_unit": "minutes",
                "included_sessions": None,
                "included_minutes": minutes,
                "price_cents": price,
                "is_public": False,
                "is_legacy": True,
                "sort_order": order,
                "migrates_to": target,
                **inherited,
            }
        )
    return rows


def catalogue_seed(plan_model) -> int:
    """Create the plans that are missing; return how many were created.

    Takes the model class so that the data migration can pass its historical model.
    """
    created = 0
    rows = catalogue_rows()
    for row in rows:
        fields = {key: value for key, value in row.items() if key not in ("code", "migrates_to")}
        _, was_created = plan_model.objects.get_or_create(code=row["code"], defaults=fields)
        created += was_created
    for row in rows:
        if row["migrates_to"]:
            plan_model.objects.filter(code=row["code"], migrates_to__isnull=True).update(
                migrates_to=plan_model.objects.get(code=row["migrates_to"])
            )
    return created


def ensure_catalogue_after_migrate(sender, using="default", **kwargs) -> None:
    """Keep the catalogue present when tables are built without migrations (tests)."""
    from accounts.models import Plan

    catalogue_seed(Plan.objects.db_manager(using).model)
