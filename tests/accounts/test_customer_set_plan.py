"""`manage.py customer_set_plan`: staff move one customer, with a reason, through the service."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import PlanChange
from tests.accounts.factories import plan


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
class TestCustomerSetPlan:
    def test_changes_plan_and_records_who_and_why(self, customer_on):
        alice = customer_on("legacy_build", external_id="alice")
        out, _ = run("customer_set_plan", "alice", "starter", "--reason", "asked by support")
        alice.refresh_from_db()
        assert alice.plan.code == "starter"
        assert "legacy_build → starter" in out
        change = PlanChange.objects.get(customer=alice)
        assert (change.from_plan.code, change.to_plan.code) == ("legacy_build", "starter")
        assert (change.from_price_cents, change.to_price_cents) == (1900, 2900)
        assert change.source == "command"
        assert change.reason == "asked by support"
        assert change.actor.startswith("command:")
        assert change.state_before["plan"] == "legacy_build"
        assert change.state_after["plan"] == "starter"

    def test_same_plan_changes_nothing(self, customer_on):
        customer_on("starter", external_id="alice")
        out, _ = run("customer_set_plan", "alice", "starter", "--reason", "noop")
        assert "nothing changed" in out
        assert not PlanChange.objects.exists()

    def test_unknown_plan_names_the_known_ones(self, customer_on):
        customer_on("free", external_id="alice")
        with pytest.raises(CommandError, match=r"Unknown plan 'gold'.*growth"):
            run("customer_set_plan", "alice", "gold", "--reason", "x")

    def test_unknown_customer(self):
        with pytest.raises(CommandError, match="No customer with user_id 'ghost'"):
            run("customer_set_plan", "ghost", "free", "--reason", "x")

    def test_reason_is_required(self, customer_on):
        customer_on("free", external_id="alice")
        with pytest.raises(CommandError):
            run("customer_set_plan", "alice", "starter")

    def test_moving_a_grandfathered_customer_ends_its_grandfathering(self, customer_on):
        from datetime import timedelta

        from django.utils import timezone

        alice = customer_on(
            "legacy_pro",
            external_id="alice",
            grandfathered_until=timezone.now() + timedelta(days=30),
            grandfather_plan=plan("growth"),
        )
        run("customer_set_plan", "alice", "growth", "--reason", "early move")
        alice.refresh_from_db()
        assert alice.grandfathered_until is None and alice.grandfather_plan is None


@pytest.mark.django_db
class TestSamePathAsTheAdmin:
    def test_a_paid_plan_without_subscription_is_complimentary(self, customer_on):
        alice = customer_on("free", external_id="alice")
        out, _ = run("customer_set_plan", "alice", "growth", "--reason", "partner")
        assert "free → growth (complimentary)" in out
        alice.refresh_from_db()
        assert alice.complimentary
        assert PlanChange.objects.get(customer=alice).complimentary

    def test_at_period_end_needs_a_paid_period(self, customer_on):
        customer_on("free", external_id="alice")
        with pytest.raises(CommandError, match="no paid period"):
            run("customer_set_plan", "alice", "growth", "--reason", "x", "--at-period-end")
        assert not PlanChange.objects.exists()

    def test_blank_reason_is_refused(self, customer_on):
        customer_on("free", external_id="alice")
        with pytest.raises(CommandError, match="reason is required"):
            run("customer_set_plan", "alice", "growth", "--reason", "  ")
        assert not PlanChange.objects.exists()
