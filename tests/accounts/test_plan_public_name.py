"""What customers call their plan: staff's catalogue names say "legacy"; customers never read it."""

import pytest

from accounts.models import Plan

pytestmark = pytest.mark.django_db


def test_legacy_minute_plans_read_as_minute_plans_without_the_word_legacy():
    names = dict(Plan.objects.filter(is_legacy=True).values_list("code", "name"))
    public = {p.code: p.public_name for p in Plan.objects.filter(is_legacy=True)}
    assert names["legacy_pro"] == "Pro (minutes, legacy)"
    assert public == {
        "legacy_free": "Free (minutes)",
        "legacy_starter": "Starter (minutes)",
        "legacy_build": "Build (minutes)",
        "legacy_pro": "Pro (minutes)",
        "legacy_agency": "Agency (minutes)",
    }


def test_session_plans_keep_their_name():
    assert [p.public_name for p in Plan.objects.filter(is_public=True).order_by("sort_order")] == [
        p.name for p in Plan.objects.filter(is_public=True).order_by("sort_order")
    ]
    assert Plan.objects.get(code="starter").public_name == "Starter"
