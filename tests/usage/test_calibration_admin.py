"""The calibration page in the admin: the report, the figure in force, "use this figure" (POST,
permission-checked, audited) and the history."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Permission

from accounts.estimates import minutes_per_session
from accounts.models import MinutesPerSessionChange
from tests.accounts.factories import UserFactory
from tests.usage.test_calibration import measured  # noqa: F401  (the fixture)
from usage.models import MonthlyUsage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now", "measured")]

PAGE = "/admin/accounts/minutespersessionchange/"
USE = PAGE + "use/"


def text(html: str) -> str:
    """The page's words, every tag a space (the figures are cards of separate lines)."""
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def staff_with(client, *codenames):
    user = UserFactory(username="clerk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_the_page_shows_the_report_and_the_figure_in_force(staff_client):
    response = staff_client.get(PAGE)
    assert response.status_code == 200
    words = text(response.content.decode())
    assert "In force 2.00 min MINUTES_PER_SESSION setting" in words
    assert "Measured median 2.00 min all plans" in words
    assert "All plans 5 3 140 2.00 in force 3.60 Use this figure 2.14" in words
    assert "Starter 4 2 40 2.50 Use this figure 3.70 Use this figure 2.50" in words
    assert "No change yet" in words


def test_use_this_figure_is_audited_and_shown_in_the_history(staff_client):
    response = staff_client.post(USE, {"use": "starter|median|2.50", "reason": "Q4 calibration"})
    assert response.status_code == 302
    change = MinutesPerSessionChange.objects.get()
    assert (change.previous_value, change.value, change.actor, change.reason) == (
        Decimal("2.00"),
        Decimal("2.50"),
        "admin:staff",
        "Q4 calibration",
    )
    assert minutes_per_session() == Decimal("2.50")
    words = text(staff_client.get(PAGE).content.decode())
    assert "Minutes per session: 2.00 → 2.50." in words
    assert "In force 2.50 min set by admin:staff" in words
    assert (
        "admin:staff 2.00 → 2.50 median of starter: 4 customer-months, 40 sessions "
        "(2026-08, 2026-09, 2026-10) Q4 calibration" in words
    )


@pytest.mark.parametrize(
    "posted",
    [
        {},
        {"use": "all|median|2.29"},  # the figure moved since the page was shown
        {"use": "nope|median|2.00"},
        {"use": "all|mean|2.00"},
        {"use": "all|median|1e999999"},
        {"use": "|||||"},
        {"use": "all|median|2.00", "reason": "x" * 5000},
        {"use": "all|median|2.00", "reason": "bad\x00reason"},  # was a 500 on PostgreSQL
    ],
)
def test_hostile_or_stale_posts_change_nothing_or_are_clipped(staff_client, posted):
    response = staff_client.post(USE, posted)
    assert response.status_code == 302
    follow = text(staff_client.get(PAGE).content.decode())
    changes = list(MinutesPerSessionChange.objects.all())
    if "\x00" in posted.get("reason", ""):
        assert changes == []
        assert "The reason holds a NUL character, which cannot be stored" in follow
        return
    if posted.get("reason"):  # a valid use with an overlong reason: kept, clipped
        assert len(changes[0].reason) == 255
        return
    assert changes == []
    assert "Minutes per session:" not in follow


def test_a_view_only_user_reads_the_report_but_cannot_use_a_figure(client):
    staff_with(client, "view_minutespersessionchange")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Use this figure" not in page.content.decode()
    assert client.post(USE, {"use": "all|median|2.00"}).status_code == 403
    assert not MinutesPerSessionChange.objects.exists()


def test_staff_without_the_view_permission_see_nothing(client):
    staff_with(client, "view_customer")
    assert client.get(PAGE).status_code == 403
    assert client.post(USE, {"use": "all|median|2.00"}).status_code == 403


def test_the_add_permission_may_use_a_figure(client):
    staff_with(client, "view_minutespersessionchange", "add_minutespersessionchange")
    assert client.post(USE, {"use": "all|p90|3.60", "reason": "p90"}).status_code == 302
    assert MinutesPerSessionChange.objects.get().value == Decimal("3.60")


def test_a_figure_is_used_only_with_a_reason(staff_client):
    for reason in ("", "   "):
        response = staff_client.post(USE, {"use": "all|median|2.00", "reason": reason})
        assert response.status_code == 302
    assert not MinutesPerSessionChange.objects.exists()
    follow = text(staff_client.get(PAGE).content.decode())
    assert "Nothing changed: type why you use this figure" in follow


def test_use_is_a_post_and_the_figure_is_never_typed_in(staff_client):
    assert staff_client.get(USE).status_code == 405
    assert staff_client.get(PAGE + "add/").status_code == 403
    assert not MinutesPerSessionChange.objects.exists()


def test_with_nothing_measured_the_page_says_so_and_offers_no_figure(staff_client):
    MonthlyUsage.objects.all().delete()
    page = text(staff_client.get(PAGE).content.decode())
    assert (
        "No customer-month of 2026-08, 2026-09, 2026-10 recorded both minutes and sessions" in page
    )
    assert "Use this figure" not in page
