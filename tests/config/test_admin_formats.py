"""One format across the admin's lists (issue 12, point 3): money as $29.00, counts as 5,000,
dates as 18 Nov 2026, 12:00, and plans by their names."""

from datetime import timedelta

import pytest

from tests.accounts.factories import CustomerFactory, PlanChangeFactory, plan
from tests.support.pages import NOW, set_month_usage, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def test_plans_list_money_counts_and_names(staff_client):
    page = text(staff_client.get("/admin/accounts/plan/").content.decode())
    assert "Starter starter 5,000 sessions $29.00 email-48h public" in page
    assert "Pro (minutes, legacy) legacy_pro 8,000 min $39.00 email-24h legacy Growth" in page


def test_customers_list_names_the_plan_and_the_coming_move(staff_client):
    alice = CustomerFactory(
        plan=plan("legacy_pro"),
        external_id="alice",
        grandfathered_until=NOW + timedelta(days=15),
        grandfather_plan=plan("growth"),
    )
    set_month_usage(alice, sessions=0, minutes="4321")

    page = text(staff_client.get("/admin/accounts/customer/").content.decode())

    assert "Pro (minutes, legacy) Active 4,321 / 8,000 min 54% → Growth on 3 Dec 2026" in page


def test_plan_history_list_reads_in_names_money_and_dates(staff_client):
    customer = CustomerFactory(plan=plan("growth"), external_id="alice")
    PlanChangeFactory(
        customer=customer, from_plan=plan("starter"), to_plan=plan("growth"), reason="goodwill"
    )

    page = text(staff_client.get("/admin/accounts/planchange/").content.decode())

    assert "18 Nov 2026, 12:00 alice Starter → Growth $29.00 → $99.00 Admin tests" in page
