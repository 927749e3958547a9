"""Admin CSV export of customers and monthly usage, and the round trip export → import."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import ChangeSource, Customer, PlanChange
from accounts.periods import period_of
from accounts.services.plan_change import customer_change_plan, customer_set_migration_state
from migration.admin.import_export import CustomerExportResource, MonthlyUsageExportResource
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.migration.import_support import (
    SAMPLE_CUSTOMERS,
    SAMPLE_USAGE,
    run_import,
    write,
)
from tests.usage.factories import MonthlyUsageFactory
from usage.models import MonthlyUsage

pytestmark = pytest.mark.django_db

CUSTOMERS_EXPORT = "/admin/accounts/customer/export/"
USAGE_EXPORT = "/admin/usage/monthlyusage/export/"


def export(client, url: str, resource, query: str = "") -> list[dict[str, str]]:
    data = {"format": "0", "resource": "0"}
    prefix = resource.__name__.lower()
    data.update({f"{prefix}_{name}": "on" for name in resource().get_export_order()})
    response = client.post(url + query, data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].endswith('.csv"')
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def staff(client):
    from django.contrib.auth.models import Permission

    user = UserFactory(username="olivia", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "view_monthlyusage"])
    )
    client.force_login(user)
    return client


class TestCustomersExport:
    def test_columns_start_with_the_import_columns(self, staff):
        CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        response = staff.post(
            CUSTOMERS_EXPORT,
            {
                "format": "0",
                "resource": "0",
                **{
                    f"customerexportresource_{name}": "on"
                    for name in CustomerExportResource().get_export_order()
                },
            },
        )
        header = response.content.decode().splitlines()[0].split(",")
        assert header == [
            "user_id",
            "email",
            "plan",
            "price_cents",
            "stripe_customer_id",
            "stripe_subscription_id",
            "created_at",
            "plan_code",
            "plan_name",
            "billing_unit",
            "status",
            "grandfathered_until",
            "grandfather_plan",
            "migration_exempt",
            "usage_month",
            "sessions_used",
            "billable_minutes",
            "quota",
            "percent_used",
        ]

    def test_plan_status_grandfathering_and_this_months_usage(self, staff):
        until = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)
        alice = CustomerFactory(
            external_id="alice",
            email="alice@example.com",
            plan=plan("legacy_build"),
            stripe_customer_id="cus_A",
            stripe_subscription_id="sub_A",
            status="past_due",
        )
        customer_set_migration_state(
            customer=alice,
            source=ChangeSource.MIGRATION,
            actor="staff",
            grandfathered_until=until,
            grandfather_plan=plan("starter"),
        )
        bob = CustomerFactory(external_id="bob", plan=plan("starter"), migration_exempt=True)
        this_month = period_of()
        MonthlyUsageFactory(
            customer=alice,
            period=this_month.start,
            total_sessions=900,
            successful_sessions=850,
            failed_sessions=50,
            total_minutes=Decimal("2000.50"),
            billable_minutes=Decimal("1950.25"),
        )
        MonthlyUsageFactory(customer=bob, period=this_month.start, total_sessions=4100)
        MonthlyUsageFactory(  # last month: not this month's usage
            customer=bob, period=this_month.previous().start, total_sessions=4999
        )
        rows = {
            row["user_id"]: row for row in export(staff, CUSTOMERS_EXPORT, CustomerExportResource)
        }
        assert rows["alice"] == {
            "user_id": "alice",
            "email": "alice@example.com",
            "plan": "build",
            "price_cents": "1900",
            "stripe_customer_id": "cus_A",
            "stripe_subscription_id": "sub_A",
            "created_at": alice.created_at.isoformat(),
            "plan_code": "legacy_build",
            "plan_name": "Build (minutes, legacy)",
            "billing_unit": "minutes",
            "status": "past_due",
            "grandfathered_until": "2027-02-01T12:00:00+00:00",
            "grandfather_plan": "starter",
            "migration_exempt": "false",
            "usage_month": this_month.label,
            "sessions_used": "850",
            "billable_minutes": "1950.25",
            "quota": "3000",
            "percent_used": "65",  # minutes: 1950.25 of 3,000
        }
        assert rows["bob"]["plan"] == "starter"
        assert rows["bob"]["plan_code"] == "starter"
        assert rows["bob"]["sessions_used"] == "4100"
        assert rows["bob"]["quota"] == "5000"
        assert rows["bob"]["percent_used"] == "82"
        assert rows["bob"]["migration_exempt"] == "true"
        assert rows["bob"]["grandfathered_until"] == rows["bob"]["grandfather_plan"] == ""

    def test_export_follows_the_changelist_filters(self, staff):
        CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        CustomerFactory(external_id="bob", plan=plan("starter"))
        rows = export(staff, CUSTOMERS_EXPORT, CustomerExportResource, "?legacy=yes")
        assert [row["user_id"] for row in rows] == ["alice"]

    def test_cells_a_spreadsheet_would_run_as_formulas_are_exported_as_text(self, staff):
        CustomerFactory(
            external_id="=HYPERLINK(\"http://evil.test\")", email="+cmd@example.com",
            plan=plan("starter"),
        )  # fmt: skip
        CustomerFactory(external_id="@sum", email="plain@example.com", plan=plan("starter"))
        CustomerFactory(external_id="-2+3", plan=plan("starter"))
        rows = export(staff, CUSTOMERS_EXPORT, CustomerExportResource)
        cells = {row["user_id"]: row for row in rows}
        assert set(cells) == {'\'=HYPERLINK("http://evil.test")', "'@sum", "'-2+3"}
        assert cells["'@sum"]["email"] == "plain@example.com"  # ordinary text untouched
        assert cells['\'=HYPERLINK("http://evil.test")']["email"] == "'+cmd@example.com"

    def test_export_needs_the_view_permission(self, client):
        client.force_login(UserFactory(username="nobody", is_staff=True))
        assert client.get(CUSTOMERS_EXPORT).status_code == 403
        assert client.get(USAGE_EXPORT).status_code == 403


class TestMonthlyUsageExport:
    def test_rows_in_the_import_columns_plus_the_portals_own(self, staff):
        alice = CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        MonthlyUsageFactory(
            customer=alice,
            period=period_of().start,
            total_sessions=10,
            successful_sessions=7,
            failed_sessions=2,
            total_minutes=Decimal("20.50"),
            billable_minutes=Decimal("18.25"),
        )
        assert export(staff, USAGE_EXPORT, MonthlyUsageExportResource) == [
            {
                "user_id": "alice",
                "month": period_of().label,
                "total_minutes_used": "20.50",
                "total_sessions": "10",
                "successful_sessions": "7",
                "failed_sessions": "2",
                "billable_minutes": "18.25",
            }
        ]


class TestRoundTrip:
    def test_imported_data_comes_back_out_as_it_went_in(self, staff):
        run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply")
        exported = {
            row["user_id"]: row for row in export(staff, CUSTOMERS_EXPORT, CustomerExportResource)
        }
        prices = {"free": "0", "starter": "900", "build": "1900", "pro": "3900", "agency": "9900"}
        with open(SAMPLE_CUSTOMERS, newline="", encoding="utf-8") as handle:
            originals = list(csv.DictReader(handle))
        assert set(exported) == {row["user_id"] for row in originals}
        for original in originals:
            row = exported[original["user_id"]]
            for column in ("email", "plan", "stripe_customer_id", "stripe_subscription_id"):
                assert row[column] == original[column]
            assert row["price_cents"] == (original["price_cents"] or prices[original["plan"]])
            if original["created_at"]:
                assert datetime.fromisoformat(row["created_at"]) == datetime.fromisoformat(
                    original["created_at"]
                ).replace(tzinfo=UTC)
        usage = export(staff, USAGE_EXPORT, MonthlyUsageExportResource)
        with open(SAMPLE_USAGE, newline="", encoding="utf-8") as handle:
            original_usage = {(row["user_id"], row["month"]): row for row in csv.DictReader(handle)}
        assert {(row["user_id"], row["month"]) for row in usage} == set(original_usage)
        for row in usage:
            original = original_usage[row["user_id"], row["month"]]
            assert Decimal(row["total_minutes_used"]) == Decimal(original["total_minutes_used"])
            assert row["total_sessions"] == original["total_sessions"]
            assert row["successful_sessions"] == original["successful_sessions"]

    def test_importing_an_export_changes_nothing(self, staff, tmp_path, api):
        run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply")
        # Customers on session plans too: one provisioned by the proxy (with a month metered
        # here), one moved here; a grandfathered one.
        api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "fresh"}, format="json")
        moved = Customer.objects.get(external_id="u_1a9d77")
        customer_change_plan(
            customer=moved, plan=plan("starter"), source=ChangeSource.MIGRATION, actor="staff"
        )
        customer_set_migration_state(
            customer=Customer.objects.get(external_id="u_8b22e0"),
            source=ChangeSource.MIGRATION,
            actor="staff",
            grandfathered_until=timezone.now() + timedelta(days=90),
            grandfather_plan=plan("growth"),
        )
        changes = PlanChange.objects.count()
        state = list(Customer.objects.order_by("pk").values())
        usage_state = list(MonthlyUsage.objects.order_by("pk").values())

        customers_file = write(
            tmp_path, "customers.csv", _csv(export(staff, CUSTOMERS_EXPORT, CustomerExportResource))
        )
        usage_file = write(
            tmp_path, "usage.csv", _csv(export(staff, USAGE_EXPORT, MonthlyUsageExportResource))
        )
        run = run_import(customers_file, "--usage", usage_file, "--apply")
        assert run.exit_code == 0, run.err
        customers, months = Customer.objects.count(), MonthlyUsage.objects.count()
        assert f"Customers: 0 created, 0 updated, {customers} unchanged." in run.out
        assert f"Monthly usage: 0 created, 0 updated, {months} unchanged." in run.out
        assert "Warning: customers.csv: ignored column(s) plan_name, billing_unit" in run.out
        assert PlanChange.objects.count() == changes
        assert list(Customer.objects.order_by("pk").values()) == state
        assert list(MonthlyUsage.objects.order_by("pk").values()) == usage_state


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
