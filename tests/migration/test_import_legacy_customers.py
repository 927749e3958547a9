"""`import_legacy_customers`: valid imports, re-imports, what is recorded, and the rules."""

import csv
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import ChangeSource, Customer, PlanChange
from accounts.services.plan_change import customer_change_plan, customer_set_migration_state
from migration.importing.run import legacy_samples_import
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.import_support import (
    SAMPLE_CUSTOMERS,
    SAMPLE_USAGE,
    customers_csv,
    run_import,
    usage_csv,
    write,
)
from usage.models import MonthlyUsage, Session

pytestmark = pytest.mark.django_db


def sample_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class TestSamples:
    def test_dry_run_checks_everything_and_writes_nothing(self):
        run = run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--dry-run")
        assert run.exit_code == 0, run.err
        customers, usage = len(sample_rows(SAMPLE_CUSTOMERS)), len(sample_rows(SAMPLE_USAGE))
        assert f"Customers: {customers} to create, 0 to update, 0 unchanged." in run.out
        assert f"Monthly usage: {usage} to create, 0 to update, 0 unchanged." in run.out
        assert f"Plan history: {customers} changes to record (source import)." in run.out
        assert "Nothing was written" in run.out
        assert not Customer.objects.exists()
        assert not PlanChange.objects.exists()
        assert not MonthlyUsage.objects.exists()

    def test_apply_imports_every_customer_with_its_legacy_plan_and_stripe_ids(self):
        run = run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply", "--actor", "ops")
        assert run.exit_code == 0, run.err
        rows = sample_rows(SAMPLE_CUSTOMERS)
        assert Customer.objects.count() == len(rows)
        assert {row["plan"] for row in rows} == {"free", "starter", "build", "pro", "agency"}
        for row in rows:
            customer = Customer.objects.select_related("plan").get(external_id=row["user_id"])
            assert customer.plan.code == f"legacy_{row['plan']}"
            assert customer.email == row["email"]
            assert customer.stripe_customer_id == row["stripe_customer_id"]
            assert customer.stripe_subscription_id == row["stripe_subscription_id"]
            assert customer.status == "active"
            if row["created_at"]:
                assert customer.created_at == datetime.fromisoformat(row["created_at"]).replace(
                    tzinfo=UTC
                )
        assert f"Customers: {len(rows)} created, 0 updated, 0 unchanged." in run.out

    def test_each_plan_assignment_is_recorded_as_an_import_plan_change(self):
        run_import(SAMPLE_CUSTOMERS, "--apply", "--actor", "ops")
        customer = Customer.objects.get(external_id="u_8b22e0")  # agency, with Stripe ids
        change = PlanChange.objects.get(customer=customer)
        assert change.source == ChangeSource.IMPORT
        assert change.actor == "ops"
        assert change.from_plan is None
        assert change.from_price_cents is None
        assert change.to_plan.code == "legacy_agency"
        assert change.to_price_cents == 9900
        assert change.state_before == {}
        assert change.state_after == {
            "plan": "legacy_agency",
            "price_cents": 9900,
            "status": "active",
            "grandfathered_until": None,
            "grandfather_plan": None,
            "migration_exempt": False,
            "stripe_subscription_id": customer.stripe_subscription_id,
            "stripe_price_id": customer.plan.stripe_price_id,
        }
        assert "legacy_customers.csv" in change.reason
        assert PlanChange.objects.count() == Customer.objects.count()

    def test_usage_maps_to_monthly_usage(self):
        run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply")
        assert MonthlyUsage.objects.count() == len(sample_rows(SAMPLE_USAGE))
        usage = MonthlyUsage.objects.get(customer__external_id="u_4f1c2a", period=date(2026, 9, 1))
        # Sample row: u_4f1c2a,2026-09,7032,3576,3433
        assert usage.total_sessions == 3576
        assert usage.successful_sessions == 3433
        assert usage.failed_sessions == 3576 - 3433  # what did not succeed failed
        assert usage.total_minutes == Decimal("7032")
        assert usage.billable_minutes == Decimal("7032")  # the old quota counted every minute
        assert usage.sessions_used == 3433

    def test_second_run_changes_nothing_and_says_so(self):
        run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply")
        before = (Customer.objects.count(), PlanChange.objects.count())
        stamps = dict(MonthlyUsage.objects.values_list("pk", "updated_at"))
        run = run_import(SAMPLE_CUSTOMERS, "--usage", SAMPLE_USAGE, "--apply")
        assert run.exit_code == 0, run.err
        customers, usage = len(sample_rows(SAMPLE_CUSTOMERS)), len(sample_rows(SAMPLE_USAGE))
        assert f"Customers: 0 created, 0 updated, {customers} unchanged." in run.out
        assert f"Monthly usage: 0 created, 0 updated, {usage} unchanged." in run.out
        assert "Plan history: 0 changes recorded" in run.out
        assert (Customer.objects.count(), PlanChange.objects.count()) == before
        assert dict(MonthlyUsage.objects.values_list("pk", "updated_at")) == stamps

    def test_samples_import_used_by_seed_demo_is_idempotent(self):
        first = legacy_samples_import(actor="seed_demo")
        second = legacy_samples_import(actor="seed_demo")
        assert first.customers.created == second.customers.unchanged > 30
        assert first.usage.created == second.usage.unchanged > 90
        assert second.plan_changes == 0


class TestReimport:
    def test_changed_rows_are_updated_and_plan_changes_recorded(self, tmp_path):
        first = write(
            tmp_path,
            "customers.csv",
            customers_csv(
                "alice,alice@example.com,build,1900,cus_A1,sub_A1,2025-01-02 03:04:05",
                "bob,bob@example.com,free,0,,,",
            ),
        )
        run_import(first, "--apply")
        second = write(
            tmp_path,
            "customers2.csv",
            customers_csv(
                "alice,alice@example.com,pro,3900,cus_A1,sub_A1,2025-01-02 03:04:05",
                "bob,bob@new.example.com,free,0,,,",
                "carol,carol@example.com,starter,900,cus_C1,sub_C1,",
            ),
        )
        run = run_import(second, "--apply", verbosity=2)
        assert run.exit_code == 0, run.err
        assert "Customers: 1 created, 2 updated, 0 unchanged." in run.out
        assert "Plan history: 2 changes recorded" in run.out  # alice's move, carol's arrival
        assert "alice: update (plan 'legacy_build' → 'legacy_pro')" in run.out
        alice = Customer.objects.get(external_id="alice")
        assert alice.plan.code == "legacy_pro"
        change = alice.plan_changes.order_by("-id").first()
        assert (change.from_plan.code, change.to_plan.code) == ("legacy_build", "legacy_pro")
        assert (change.from_price_cents, change.to_price_cents) == (1900, 3900)
        assert change.state_before["plan"] == "legacy_build"
        assert change.state_after["plan"] == "legacy_pro"
        bob = Customer.objects.get(external_id="bob")
        assert bob.email == "bob@new.example.com"
        assert bob.plan_changes.count() == 1  # an e-mail change is not a plan change
        assert Customer.objects.count() == 3

    def test_plan_change_rows_hold_what_customer_change_plan_writes(self, tmp_path):
        run_import(
            write(tmp_path, "a.csv", customers_csv("alice,a@example.com,build,,,,")), "--apply"
        )
        run_import(
            write(tmp_path, "b.csv", customers_csv("alice,a@example.com,pro,,,,")), "--apply"
        )
        imported = PlanChange.objects.filter(customer__external_id="alice").order_by("-id")[0]
        twin = CustomerFactory(external_id="twin", plan=plan("legacy_build"))
        direct = customer_change_plan(
            customer=twin, plan=plan("legacy_pro"), source=ChangeSource.IMPORT, actor="x"
        )
        compared = [
            "from_plan_id",
            "to_plan_id",
            "from_price_cents",
            "to_price_cents",
            "source",
            "batch_id",
            "stripe_event_id",
            "state_before",
            "state_after",
        ]
        assert {name: getattr(imported, name) for name in compared} == {
            name: getattr(direct, name) for name in compared
        }

    def test_usage_rows_are_updated_by_user_and_month(self, tmp_path):
        customers = write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,"))
        run_import(
            customers,
            "--usage",
            write(tmp_path, "u.csv", usage_csv("alice,2026-09,100,50,45")),
            "--apply",
        )
        run = run_import(
            customers,
            "--usage",
            write(
                tmp_path, "u2.csv", usage_csv("alice,2026-09,120.456,60,58", "alice,2026-10,1,1,1")
            ),
            "--apply",
        )
        assert "Monthly usage: 1 created, 1 updated, 0 unchanged." in run.out
        september = MonthlyUsage.objects.get(customer__external_id="alice", period=date(2026, 9, 1))
        assert (september.total_sessions, september.successful_sessions) == (60, 58)
        assert september.failed_sessions == 2
        assert september.total_minutes == september.billable_minutes == Decimal("120.46")
        assert MonthlyUsage.objects.count() == 2

    def test_empty_email_stripe_ids_and_created_at_never_erase_what_is_known(self, tmp_path):
        run_import(
            write(
                tmp_path, "a.csv", customers_csv("alice,a@example.com,pro,,cus_1,sub_1,2025-02-03")
            ),
            "--apply",
        )
        run = run_import(write(tmp_path, "b.csv", customers_csv("alice,,pro,,,,")), "--apply")
        assert "0 updated, 1 unchanged" in run.out
        alice = Customer.objects.get(external_id="alice")
        assert alice.email == "a@example.com"
        assert (alice.stripe_customer_id, alice.stripe_subscription_id) == ("cus_1", "sub_1")
        assert alice.created_at == datetime(2025, 2, 3, tzinfo=UTC)

    def test_a_plan_change_ends_grandfathering_as_customer_change_plan_does(self, tmp_path):
        run_import(
            write(tmp_path, "a.csv", customers_csv("alice,a@example.com,build,,,,")), "--apply"
        )
        alice = Customer.objects.get(external_id="alice")
        customer_set_migration_state(
            customer=alice,
            source=ChangeSource.MIGRATION,
            actor="staff",
            grandfathered_until=timezone.now() + timezone.timedelta(days=60),
            grandfather_plan=plan("starter"),
        )
        run_import(
            write(tmp_path, "b.csv", customers_csv("alice,a@example.com,build,,,,")), "--apply"
        )
        alice.refresh_from_db()
        assert alice.is_grandfathered  # same plan: grandfathering untouched
        run_import(
            write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,")), "--apply"
        )
        alice.refresh_from_db()
        assert alice.plan.code == "legacy_pro"
        assert alice.grandfathered_until is None and alice.grandfather_plan is None
        change = alice.plan_changes.order_by("-id").first()
        assert change.state_before["grandfather_plan"] == "starter"
        assert change.state_after["grandfather_plan"] is None


class TestCustomersAlreadyHere:
    def test_a_customer_moved_to_a_session_plan_here_is_never_moved_back(self, tmp_path):
        path = write(tmp_path, "a.csv", customers_csv("alice,a@example.com,build,1900,,,"))
        run_import(path, "--apply")
        alice = Customer.objects.get(external_id="alice")
        customer_change_plan(
            customer=alice, plan=plan("starter"), source=ChangeSource.MIGRATION, actor="staff"
        )
        changes = PlanChange.objects.count()
        run = run_import(path, "--apply", verbosity=2)
        assert run.exit_code == 0, run.err
        assert "0 updated, 1 unchanged" in run.out
        assert "already on a session plan here" in run.out
        assert "already moved to the session plan 'starter'" in run.out
        alice.refresh_from_db()
        assert alice.plan.code == "starter"
        assert PlanChange.objects.count() == changes

    def test_a_user_provisioned_on_free_by_the_proxy_gets_its_legacy_plan(self, tmp_path, api):
        api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "alice"}, format="json")
        assert Customer.objects.get(external_id="alice").plan.code == "free"
        run = run_import(
            write(tmp_path, "a.csv", customers_csv("alice,a@example.com,agency,,,,")), "--apply"
        )
        assert "0 created, 1 updated" in run.out
        alice = Customer.objects.get(external_id="alice")
        assert alice.plan.code == "legacy_agency"
        change = alice.plan_changes.order_by("-id").first()
        assert (change.from_plan.code, change.to_plan.code, change.source) == (
            "free",
            "legacy_agency",
            ChangeSource.IMPORT,
        )

    def test_usage_file_alone_may_name_customers_already_here(self, tmp_path):
        CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        customers = write(tmp_path, "c.csv", customers_csv("bob,b@example.com,free,,,,"))
        usage = write(tmp_path, "u.csv", usage_csv("alice,2026-08,10,5,5", "bob,2026-08,1,1,1"))
        run = run_import(customers, "--usage", usage, "--apply")
        assert run.exit_code == 0, run.err
        assert MonthlyUsage.objects.filter(customer__external_id="alice").count() == 1

    def test_a_month_metered_here_is_not_overwritten(self, tmp_path, api):
        CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "alice"}, format="json")
        month = Session.objects.get().period.strftime("%Y-%m")
        customers = write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,"))
        usage = write(tmp_path, "u.csv", usage_csv(f"alice,{month},500,200,190"))
        run = run_import(customers, "--usage", usage, "--apply")
        assert run.exit_code == 1
        assert f"u.csv:2: {month} of 'alice' holds sessions metered by this portal" in run.err
        assert MonthlyUsage.objects.get().total_sessions == 1
        assert Customer.objects.get().email != "a@example.com"  # all or nothing

    def test_the_same_figures_for_a_metered_month_are_simply_unchanged(self, tmp_path, api):
        CustomerFactory(external_id="alice", plan=plan("legacy_pro"))
        api.post("/api/v1/sessions", {"session_id": "s1", "user_id": "alice"}, format="json")
        month = Session.objects.get().period.strftime("%Y-%m")
        usage = write(
            tmp_path,
            "u.csv",
            usage_csv(
                f"alice,{month},0,1,0,0,0",
                header="user_id,month,total_minutes_used,total_sessions,successful_sessions,"
                "failed_sessions,billable_minutes",
            ),
        )
        customers = write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,"))
        run = run_import(customers, "--usage", usage, "--apply")
        assert run.exit_code == 0, run.err
        assert "Monthly usage: 0 created, 0 updated, 1 unchanged." in run.out


class TestRaces:
    def test_a_customer_created_while_importing_stops_the_import_cleanly(
        self, tmp_path, monkeypatch
    ):
        from migration.importing import decide

        CustomerFactory(external_id="alice", plan=plan("free"))
        # As if the proxy provisioned alice between the check and the write.
        monkeypatch.setattr(decide, "customers_by_external_id", lambda *a, **k: {})
        path = write(
            tmp_path, "c.csv", customers_csv("bob,b@example.com,pro,,,,", "alice,a@x.io,pro,,,,")
        )
        run = run_import(path, "--apply")
        assert run.exit_code == 1
        assert "c.csv: a customer of this file was created here while the import ran" in run.err
        assert list(Customer.objects.values_list("external_id", flat=True)) == ["alice"]
        assert not PlanChange.objects.exists()


class TestCommandLine:
    def test_dry_run_or_apply_is_required_and_not_both(self, tmp_path):
        path = write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,"))
        assert run_import(path).exit_code != 0
        both = run_import(path, "--dry-run", "--apply")
        assert both.exit_code != 0
        assert "not allowed with" in both.err
        assert not Customer.objects.exists()

    def test_a_missing_file_is_a_clear_error(self, tmp_path):
        run = run_import(tmp_path / "nope.csv", "--dry-run")
        assert run.exit_code == 1
        assert "Cannot read" in run.err and "nope.csv" in run.err

    def test_large_runs_show_a_progress_bar_on_stderr_and_a_clean_summary(self, tmp_path):
        rows = [f"user{n:05d},user{n:05d}@example.com,starter,900,,," for n in range(5100)]
        path = write(tmp_path, "big.csv", customers_csv(*rows))
        run = run_import(path, "--apply")
        assert run.exit_code == 0, run.err
        assert "writing customers" in run.err and "100%" in run.err
        assert "#" not in run.out
        assert run.out.splitlines()[1] == "Customers: 5,100 created, 0 updated, 0 unchanged."
        assert Customer.objects.count() == 5100
        assert PlanChange.objects.filter(source=ChangeSource.IMPORT).count() == 5100

    def test_small_runs_and_verbosity_zero_have_no_progress_bar(self, tmp_path):
        path = write(tmp_path, "c.csv", customers_csv("alice,a@example.com,pro,,,,"))
        assert run_import(path, "--apply").err == ""
