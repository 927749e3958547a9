"""The minutes per session that every estimate uses: one stored figure (the setting until staff
set one), audited, cached in the shared cache and dropped from it on every change."""

from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache

from accounts.errors import InvalidInput
from accounts.estimates import (
    CACHE_KEY,
    estimated_minutes,
    minutes_per_session,
    sessions_from_minutes,
)
from accounts.models import MinutesPerSessionChange
from accounts.services.minutes_per_session import minutes_per_session_set
from tests.accounts.factories import plan
from tests.support.races import race

pytestmark = pytest.mark.django_db


def test_the_setting_is_the_figure_until_one_is_stored(settings):
    settings.MINUTES_PER_SESSION = 2.5
    assert minutes_per_session() == Decimal("2.50")
    assert not MinutesPerSessionChange.objects.exists()


def test_a_change_is_audited_old_to_new_with_its_sample(settings):
    settings.MINUTES_PER_SESSION = 2.0
    first = minutes_per_session_set(
        value="2.29", actor="admin:alice", reason="calibration", sample={"customer_months": 9}
    )
    second = minutes_per_session_set(value=Decimal("2.4"), actor="command:ops")
    assert (first.previous_value, first.value) == (Decimal("2.00"), Decimal("2.29"))
    assert (first.actor, first.reason, first.sample) == (
        "admin:alice",
        "calibration",
        {"customer_months": 9},
    )
    assert (second.previous_value, second.value) == (Decimal("2.29"), Decimal("2.40"))
    assert minutes_per_session() == Decimal("2.40")


def test_a_change_drops_the_cached_figure_at_once(django_assert_num_queries):
    assert minutes_per_session() == Decimal("2.00")
    with django_assert_num_queries(0):  # cached: a hot path pays no query
        assert minutes_per_session() == Decimal("2.00")
    minutes_per_session_set(value="3.10", actor="admin:alice")
    assert minutes_per_session() == Decimal("3.10")
    assert cache.get(CACHE_KEY) == "3.10"


def test_the_commit_drops_what_others_cached_meanwhile(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        minutes_per_session_set(value="2.70", actor="admin:alice")
        cache.set(CACHE_KEY, "2.00")  # another worker read the old figure before the commit
    assert minutes_per_session() == Decimal("2.70")


def test_a_cache_that_is_down_reads_the_database():
    minutes_per_session_set(value="2.20", actor="admin:alice")
    with (
        mock.patch.object(cache, "get", side_effect=ConnectionError),
        mock.patch.object(cache, "set", side_effect=ConnectionError),
    ):
        assert minutes_per_session() == Decimal("2.20")


@pytest.mark.parametrize("value", ["0", "-1", "0.05", "600.01", "nan", "inf", "two", ""])
def test_nonsense_is_refused_and_nothing_is_stored(value):
    with pytest.raises(InvalidInput):
        minutes_per_session_set(value=value, actor="admin:alice")
    assert not MinutesPerSessionChange.objects.exists()


def test_estimates_follow_the_figure():
    starter, legacy_pro = plan("starter"), plan("legacy_pro")
    assert estimated_minutes(starter) == 10_000  # 5,000 sessions at the default 2.00
    minutes_per_session_set(value="2.29", actor="admin:alice")
    assert estimated_minutes(starter) == 11_450
    assert estimated_minutes(legacy_pro) == 8_000  # a minute plan's quota is its own
    assert sessions_from_minutes(Decimal("229")) == 100
    assert sessions_from_minutes(Decimal("229.01")) == 101  # rounded up


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_changes_chain_old_to_new():
    """Even the very first change: each records the figure the one before it set."""
    results = race(6, lambda i: minutes_per_session_set(value=f"2.{i}1", actor=f"staff-{i}"))
    assert not [r for r in results if isinstance(r, Exception)], results
    changes = list(MinutesPerSessionChange.objects.order_by("id"))
    assert [c.previous_value for c in changes] == [Decimal("2.00")] + [
        c.value for c in changes[:-1]
    ]
    assert minutes_per_session() == changes[-1].value
