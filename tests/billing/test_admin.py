import pytest
from django.utils import timezone

from accounts.models import Customer
from accounts.periods import period_of
from api.models import ServiceKey
from api.service_keys import service_key_create
from tests.factories import UserFactory, plan
from usage.models import MonthlyUsage


@pytest.fixture
def staff_client(client, db):
    user = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


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
    period = period_of().start
    free, starter = plan("free"), plan("starter")
    customers = Customer.objects.bulk_create(
        [
            Customer(
                external_id=f"c{n:05d}", email=f"c{n}@example.com", plan=starter if n % 2 else free
            )
            for n in range(300)
        ]
    )
    MonthlyUsage.objects.bulk_create(
        [MonthlyUsage(customer=c, period=period, total_sessions=85) for c in customers]
    )
    with django_assert_max_num_queries(15):
        response = staff_client.get("/admin/accounts/customer/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "85 / 100 sessions" in page
    assert "85 / 5,000 sessions" in page
    assert "85%" in page


@pytest.mark.django_db
def test_customer_filters_and_search(staff_client, customer_on):
    customer_on("legacy_pro", external_id="old-timer")
    customer_on("growth", external_id="newcomer")
    legacy = staff_client.get("/admin/accounts/customer/?legacy=yes").content.decode()
    assert "old-timer" in legacy and "newcomer" not in legacy
    found = staff_client.get("/admin/accounts/customer/?q=newcomer").content.decode()
    assert "newcomer" in found and "old-timer" not in found
    MonthlyUsage.objects.create(
        customer=Customer.objects.get(external_id="newcomer"),
        period=period_of().start,
        total_sessions=19000,
    )
    high = staff_client.get("/admin/accounts/customer/?usage=80").content.decode()
    assert "newcomer" in high and "old-timer" not in high


@pytest.mark.django_db
def test_customer_change_page_renders_with_history(staff_client, customer_on):
    alice = customer_on("free", external_id="alice")
    response = staff_client.get(f"/admin/accounts/customer/{alice.pk}/change/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_plan_figures_are_editable(staff_client):
    starter = plan("starter")
    response = staff_client.get(f"/admin/accounts/plan/{starter.pk}/change/")
    assert response.status_code == 200
    assert 'name="included_sessions"' in response.content.decode()


@pytest.mark.django_db
def test_service_key_revoke_action(staff_client):
    key, _ = service_key_create(name="old-proxy")
    response = staff_client.post(
        "/admin/api/servicekey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ServiceKey.objects.get().revoked_at <= timezone.now()


@pytest.mark.django_db
def test_sessions_and_usage_are_read_only(staff_client):
    assert staff_client.get("/admin/usage/session/add/").status_code == 403
    assert staff_client.get("/admin/usage/monthlyusage/add/").status_code == 403
    assert staff_client.get("/admin/usage/session/").status_code == 200


@pytest.mark.django_db
def test_adding_a_customer_in_the_admin_provisions_it_on_free_with_an_audit_row(staff_client):
    from accounts.models import PlanChange

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
