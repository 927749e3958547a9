"""The customer admin's filters and search (`migration/admin/filters.py`): legacy plans,
grandfathering (ending soon, ended), exemption, this month's usage."""

from datetime import timedelta

import pytest

from accounts.models import Customer
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.support import CHANGELIST, NOW, legacy_customer
from tests.usage.factories import MonthlyUsageFactory


@pytest.mark.django_db
def test_customer_filters_and_search(staff_client, customer_on):
    customer_on("legacy_pro", external_id="old-timer")
    customer_on("growth", external_id="newcomer")
    legacy = staff_client.get("/admin/accounts/customer/?legacy=yes").content.decode()
    assert "old-timer" in legacy and "newcomer" not in legacy
    found = staff_client.get("/admin/accounts/customer/?q=newcomer").content.decode()
    assert "newcomer" in found and "old-timer" not in found
    MonthlyUsageFactory(customer=Customer.objects.get(external_id="newcomer"), total_sessions=19000)
    high = staff_client.get("/admin/accounts/customer/?usage=80").content.decode()
    assert "newcomer" in high and "old-timer" not in high


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen_clock")
class TestFilters:
    def test_grandfathering_and_exempt_filters(self, admin_client):
        soon = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW + timedelta(days=10),
            grandfather_plan=plan("starter"),
        )
        later = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW + timedelta(days=60),
            grandfather_plan=plan("starter"),
        )
        ended = legacy_customer(
            "legacy_build",
            grandfathered_until=NOW - timedelta(days=1),
            grandfather_plan=plan("starter"),
        )
        exempt = legacy_customer("legacy_pro", migration_exempt=True)
        plain = CustomerFactory(plan=plan("starter"))

        def listed(query):
            page = admin_client.get(CHANGELIST + query).content.decode()
            return {
                c.external_id
                for c in (soon, later, ended, exempt, plain)
                if f">{c.external_id}<" in page
            }

        assert listed("?grandfathering=yes") == {
            soon.external_id,
            later.external_id,
            ended.external_id,
        }
        assert listed("?grandfathering=ending") == {soon.external_id}
        assert listed("?grandfathering=ended") == {ended.external_id}
        assert listed("?grandfathering=no") == {exempt.external_id, plain.external_id}
        assert listed("?migration_exempt__exact=1") == {exempt.external_id}
        assert listed("?legacy=yes") == {
            soon.external_id,
            later.external_id,
            ended.external_id,
            exempt.external_id,
        }
