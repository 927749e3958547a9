"""Issue 12, point 4 with point 5's figure: the dry runs, their report and the migration e-mails
count a month of minutes only at the stored minutes per session, not at the setting."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.models import BatchKind
from accounts.services.minutes_per_session import minutes_per_session_set
from migration.batches.apply import migration_run
from migration.batches.planning import migration_plan
from tests.migration.support import HISTORY, act, legacy_customer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def heavy_free():
    """210 minutes in a month the old system recorded no session of: 105 sessions at 2.00
    minutes each (over Free's 100), 92 at the measured 2.29."""
    return legacy_customer("legacy_free", minutes=("210", "0", "0"), history=HISTORY)


def test_the_setting_estimates_until_a_figure_is_stored(heavy_free):
    plan = migration_plan(kind=BatchKind.REMAP)
    (row,) = plan.rows
    assert row.estimated_sessions == (105, 0, 0)
    assert row.would_exceed and plan.totals["would_exceed"] == 1
    assert plan.report()["minutes_per_session"] == 2.0


def test_the_measured_figure_estimates_once_stored(heavy_free):
    minutes_per_session_set(value="2.29", actor="admin:alice")
    plan = migration_plan(kind=BatchKind.REMAP)
    (row,) = plan.rows
    assert row.estimated_sessions == (92, 0, 0)
    assert not row.would_exceed and plan.totals["would_exceed"] == 0
    assert plan.report()["minutes_per_session"] == 2.29


def test_the_command_says_which_figure_it_divided_by(heavy_free):
    minutes_per_session_set(value="2.29", actor="admin:alice")
    out = StringIO()
    call_command("migrate_to_sessions", "--dry-run", "--now", stdout=out, stderr=StringIO())
    output = out.getvalue()
    assert "/ 2.29 min per session" in output
    assert "est. sessions 2026-08 92 · 2026-09 0 · 2026-10 0 vs 100 sessions" in output
    assert "WOULD EXCEED" not in output


def test_the_e_mails_estimate_minutes_at_the_stored_figure(django_capture_on_commit_callbacks):
    legacy_customer("legacy_pro", email="pro@example.com")
    minutes_per_session_set(value=Decimal("2.29"), actor="admin:alice")
    with django_capture_on_commit_callbacks(execute=True):
        migration_run(kind=BatchKind.REMAP, notify=True, actor="tester")
    (message,) = mail.outbox
    assert "20,000 sessions a month (about 45,800 minutes)" in message.body


def test_the_notice_counts_a_month_of_minutes_at_the_stored_figure(
    django_capture_on_commit_callbacks,
):
    legacy_customer(
        "legacy_build", minutes=("2290", "4580", "229"), history=HISTORY, email="b@example.com"
    )
    minutes_per_session_set(value="2.29", actor="admin:alice")
    with django_capture_on_commit_callbacks(execute=True):
        migration_run(kind=BatchKind.GRANDFATHER, notify=True, actor="tester")
    (message,) = mail.outbox
    assert (
        "In the last three months you used about 1,000, 2,000 and 100 sessions (estimated from "
        "your minutes where sessions were not counted); Starter includes 5,000 sessions"
    ) in message.body


def test_the_confirmation_page_estimates_at_the_stored_figure(admin_client, heavy_free):
    minutes_per_session_set(value="2.29", actor="admin:alice")
    page = act(admin_client, "migration_remap", [heavy_free]).content.decode()
    assert "otherwise billable minutes ÷ 2.29 min per session" in page
    assert "92 · 0 · 0" in page
    assert "would exceed</span>" not in page
