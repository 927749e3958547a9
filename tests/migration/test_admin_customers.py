"""The customer admin (`migration/admin/customers.py`): staff only, a list with this month's
usage in bounded queries, the change page, adding a customer through the service."""

import factory
import pytest

from accounts.models import Customer, PlanChange
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.usage.factories import MonthlyUsageFactory
from usage.models import MonthlyUsage


@pytest.mark.django_db
def test_admin_is_staff_only(client):
    client.force_login(UserFactory(username="customer-login"))
    response = client.get("/admin/accounts/customer/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_customer_list_shows_usage_without_a_query_per_row(
    staff_client, django_assert_max_num_queries
):
    free, starter = plan("free"), plan("starter")
    customers = Customer.objects.bulk_create(
        CustomerFactory.build_batch(300, plan=factory.Iterator([free, starter]))
    )
    MonthlyUsage.objects.bulk_create(
        [MonthlyUsageFactory.build(customer=c, total_sessions=85) for c in customers]
    )
    with django_assert_max_num_queries(15):
        response = staff_client.get("/admin/accounts/customer/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "85 / 100 sessions" in page
    assert "85 / 5,000 sessions" in page
    assert "85%" in page


@pytest.mark.django_db
def test_customer_change_page_renders_with_history(staff_client, customer_on):
    alice = customer_on("free", external_id="alice")
    response = staff_client.get(f"/admin/accounts/customer/{alice.pk}/change/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_adding_a_customer_in_the_admin_provisions_it_on_free_with_an_audit_row(staff_client):
    response = staff_client.post(
        "/admin/accounts/customer/add/",
        {
            "external_id": "walk-in",
            "email": "walk-in@example.com",
            "stripe_customer_id": "",
            "stripe_subscription_id": "",
            "projects-TOTAL_FORMS": "0",
            "projects-INITIAL_FORMS": "0",
            "plan_changes-TOTAL_FORMS": "0",
            "plan_changes-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    customer = Customer.objects.get(external_id="walk-in")
    assert customer.plan.code == "free" and customer.status == "active"
    change = PlanChange.objects.get(customer=customer)
    assert (change.source, change.actor) == ("admin", "admin:staff")


@pytest.mark.django_db
def test_status_is_not_editable_in_the_admin(staff_client, customer_on):
    alice = customer_on("free", external_id="alice")
    page = staff_client.get(f"/admin/accounts/customer/{alice.pk}/change/").content.decode()
    assert 'name="status"' not in page
