from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import PlanChange
from api.models import ServiceKey
from api.service_keys import service_key_digest


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

        from tests.factories import plan

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
def test_create_service_key_prints_the_key_last_and_stores_only_its_hash():
    out, err = run("create_service_key", "proxy-production")
    raw_key = out.strip().splitlines()[-1]
    key = ServiceKey.objects.get()
    assert key.name == "proxy-production"
    assert key.key_hash == service_key_digest(raw_key)
    assert raw_key not in (key.key_hash, key.prefix)
    assert raw_key.startswith(key.prefix)
    assert "Bearer" in err


@pytest.mark.django_db
def test_create_service_key_rejects_an_empty_name():
    with pytest.raises(CommandError, match="needs a name"):
        run("create_service_key", "  ")


@pytest.mark.django_db
def test_a_new_key_authenticates_at_once():
    from rest_framework.test import APIClient

    raw_key = run("create_service_key", "dash")[0].strip().splitlines()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/billing/usage", {"user_id": "x"}).status_code == 200
