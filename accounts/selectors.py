"""Reads of plans for the pages and commands."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Plan


def public_plans() -> QuerySet[Plan]:
    return Plan.objects.filter(is_public=True).order_by("sort_order", "price_cents")
