"""The customer admin and the batch pages with 10,000 customers: every page in bounded queries,
the batch applied in bulk statements."""

import factory
import pytest
from django.urls import reverse

from accounts.models import Customer, MigrationBatch
from tests.accounts.factories import CustomerFactory, plan
from tests.migration.support import CHANGELIST
from tests.support.workers import worker_runs

pytestmark = pytest.mark.usefixtures("frozen_clock")


def _bulk_legacy_customers(count: int) -> list[int]:
    plans = [
        plan(code) for code in ("legacy_build", "legacy_pro", "legacy_starter", "legacy_agency")
    ]
    Customer.objects.bulk_create(
        CustomerFactory.build_batch(
            count,
            external_id=factory.Iterator([f"bulk-{n:05d}" for n in range(count)]),
            plan=factory.Iterator(plans),
        ),
        batch_size=2000,
    )
    return list(Customer.objects.values_list("pk", flat=True))


@pytest.mark.django_db
class TestTenThousandCustomers:
    COUNT = 10_000

    def test_changelist_and_action_pages_render_in_bounded_queries(
        self, admin_client, django_assert_max_num_queries
    ):
        _bulk_legacy_customers(self.COUNT)
        with django_assert_max_num_queries(15):
            response = admin_client.get(CHANGELIST + "?legacy=yes")
        assert response.status_code == 200
        first_page = list(
            Customer.objects.order_by("external_id").values_list("pk", flat=True)[:100]
        )
        with django_assert_max_num_queries(20):
            response = admin_client.post(
                CHANGELIST + "?legacy=yes",
                {
                    "action": "migration_grandfather",
                    "_selected_action": first_page,
                    "select_across": "1",
                },
            )
        page = response.content.decode()
        assert response.status_code == 200
        assert "Grandfather: 10,000 customer(s)" in page
        assert "bulk-00000" in page and "bulk-09999" in page  # every customer is listed

        # Applying writes in bulk statements (their number depends on the database's batch
        # size, not on a query per customer); the pages around it are what must stay bounded.
        with worker_runs():
            response = admin_client.post(
                CHANGELIST + "?legacy=yes",
                {
                    "action": "migration_grandfather",
                    "_selected_action": first_page,
                    "select_across": "1",
                    "apply": "1",
                    "months": "3",
                    "reason": "all legacy",
                },
            )
        assert response.status_code == 302
        batch = MigrationBatch.objects.get()
        assert batch.changed_count == self.COUNT

        change_url = reverse("admin:accounts_migrationbatch_change", args=[batch.pk])
        with django_assert_max_num_queries(15):
            response = admin_client.get(change_url)
        assert response.status_code == 200 and "page 1 of 10" in response.content.decode()
        with django_assert_max_num_queries(15):
            response = admin_client.get(
                reverse("admin:accounts_migrationbatch_rollback", args=[batch.pk])
            )
        assert response.status_code == 200 and "bulk-09999" in response.content.decode()
        with django_assert_max_num_queries(15):
            response = admin_client.get(reverse("admin:accounts_migrationbatch_changelist"))
        assert response.status_code == 200
