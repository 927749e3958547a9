"""Admin import (django-import-export): upload, preview of what will change, confirmation.

The admin runs the import service that the command runs; these tests check the flow and that
the preview writes nothing, not the rules again (test_import_*.py cover them).
"""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import BackgroundJob, ChangeSource, Customer, JobState, PlanChange
from tests.accounts.factories import CustomerFactory, UserFactory, plan
from tests.migration.import_support import (
    SAMPLE_CUSTOMERS,
    SAMPLE_USAGE,
    customers_csv,
    run_import,
    usage_csv,
)
from tests.support.workers import worker_runs
from usage.models import MonthlyUsage

pytestmark = pytest.mark.django_db

CUSTOMERS_IMPORT = "/admin/accounts/customer/import/"
CUSTOMERS_CONFIRM = "/admin/accounts/customer/process_import/"
USAGE_IMPORT = "/admin/usage/monthlyusage/import/"
USAGE_CONFIRM = "/admin/usage/monthlyusage/process_import/"


def upload(client, url: str, name: str, content: str | bytes):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        url,
        {"import_file": SimpleUploadedFile(name, data, "text/csv"), "format": "0", "resource": "0"},
    )


def confirm(client, url: str, preview):
    """Confirm the preview: a job is queued, which a worker runs right after."""
    with worker_runs():
        return client.post(url, preview.context["confirm_form"].initial)


@pytest.fixture
def staff(client):
    user = UserFactory(username="olivia", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["change_customer", "view_customer", "change_monthlyusage"]
        )
    )
    client.force_login(user)
    return client


class TestCustomersUpload:
    def test_the_upload_page_names_the_columns(self, staff):
        response = staff.get(CUSTOMERS_IMPORT)
        assert response.status_code == 200
        assert (
            "user_id, email, plan, price_cents, stripe_customer_id, stripe_subscription_id, "
            "created_at"
        ) in response.content.decode()

    def test_preview_shows_what_will_change_and_writes_nothing(self, staff):
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        assert response.status_code == 200
        assert response.context["confirm_form"] is not None
        page = response.content.decode()
        assert "Nothing has been written yet" in page
        assert "Customers: 38 to create, 0 to update, 0 unchanged" in page
        assert "Plan history: 38 changes to record (source import)" in page
        assert "plan: legacy_agency" in page
        assert "Confirm import" in page
        assert not Customer.objects.exists()
        assert not PlanChange.objects.exists()

    def test_confirming_imports_through_the_service_with_the_staff_member_as_actor(self, staff):
        preview = upload(staff, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        response = confirm(staff, CUSTOMERS_CONFIRM, preview)
        job = BackgroundJob.objects.get()
        assert response.status_code == 302
        assert response.url == f"/admin/accounts/backgroundjob/{job.pk}/change/"
        assert (job.kind, job.state, job.actor) == ("legacy_import", JobState.DONE, "admin:olivia")
        assert Customer.objects.count() == 38
        change = PlanChange.objects.get(customer__external_id="u_8b22e0")
        assert (change.source, change.actor) == (ChangeSource.IMPORT, "admin:olivia")
        assert change.to_plan.code == "legacy_agency"
        assert "old.csv" in change.reason
        page = staff.get(response.url).content.decode()
        assert f'Import queued as <a href="{response.url}">job {job.pk}</a>' in page
        assert "Done</strong>" in page and "(imported by admin:olivia)" in page
        assert "38 created, 0 updated, 0 unchanged" in page
        # The job in words, not its kind's code: "Importing old.csv", "Job 1: legacy import".
        assert "Importing old.csv" in page and f"Job {job.pk}: legacy import" in page
        assert "legacy_import" not in page

    def test_the_preview_of_a_reimport_lists_updates_old_to_new(self, staff):
        run_import(SAMPLE_CUSTOMERS, "--apply")
        changed = SAMPLE_CUSTOMERS.read_text().replace(
            "u_1a9d77,jonas@hallo-voice.de,build,1900", "u_1a9d77,jonas@hallo-voice.de,pro,3900"
        )
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", changed)
        page = response.content.decode()
        assert "Customers: 0 to create, 1 to update, 37 unchanged" in page
        assert "plan: legacy_build → legacy_pro" in page
        assert Customer.objects.get(external_id="u_1a9d77").plan.code == "legacy_build"

    def test_errors_list_every_bad_line_and_offer_no_confirmation(self, staff):
        content = customers_csv(
            "alice,a@example.com,platinum,,,,", "bob,not-an-email,free,,,,", "carol,c@x.io,pro,,,,"
        )
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", content)
        assert response.status_code == 200
        assert "confirm_form" not in response.context
        page = response.content.decode()
        assert "The file was refused: nothing was written" in page
        assert "Correct these lines, then upload the file again" in page
        assert "<td>old.csv</td><td>2</td><td>plan &#x27;platinum&#x27; is not a plan" in page
        assert "<td>3</td><td>email &#x27;not-an-email&#x27; is not an e-mail address" in page
        assert "Non field specific" not in page and "Some rows failed" not in page
        invalid = response.context["result"].invalid_rows
        assert [row.number for row in invalid] == [2, 3]
        assert not Customer.objects.exists()

    def test_a_file_with_nothing_to_change_offers_no_confirmation(self, staff):
        run_import(SAMPLE_CUSTOMERS, "--apply")
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        page = response.content.decode()
        assert "Customers: 0 to create, 0 to update, 38 unchanged" in page
        assert "Nothing to import: every line of the file is already as it says here" in page
        assert "Confirm import" not in page
        assert "Import customers from the old system" in page  # the page's title

    def test_file_level_errors_are_the_commands_errors(self, staff):
        content = customers_csv("andre,andré@example.com,free,,,,").encode("latin-1")
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", content)
        assert "the file is not UTF-8 (byte 0xe9" in response.content.decode()
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", b"\xef\xbb\xbf\r\n")
        assert "the file is empty" in response.content.decode()
        response = upload(staff, CUSTOMERS_IMPORT, "old.csv", b"")
        assert "The submitted file is empty." in response.content.decode()  # Django's upload form
        assert not Customer.objects.exists()

    def test_confirmation_checks_again_and_writes_nothing_if_the_data_moved(self, staff):
        content = customers_csv("alice,a@example.com,pro,3900,cus_A1,sub_A1,")
        preview = upload(staff, CUSTOMERS_IMPORT, "old.csv", content)
        CustomerFactory(external_id="zed", plan=plan("starter"), stripe_customer_id="cus_A1")
        response = confirm(staff, CUSTOMERS_CONFIRM, preview)
        job = BackgroundJob.objects.get()
        assert job.state == JobState.FAILED
        assert "nothing was imported." in job.error
        assert "old.csv:2: stripe_customer_id cus_A1 already belongs" in job.error
        page = staff.get(response.url).content.decode()
        assert "Failed</strong>" in page and "cus_A1 already belongs" in page
        assert not Customer.objects.filter(external_id="alice").exists()

    def test_a_second_import_waits_for_the_one_queued(self, staff):
        preview = upload(staff, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        staff.post(CUSTOMERS_CONFIRM, preview.context["confirm_form"].initial)  # no worker yet
        job = BackgroundJob.objects.get()
        assert job.state == JobState.QUEUED and not Customer.objects.exists()

        preview = upload(staff, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        response = staff.post(
            CUSTOMERS_CONFIRM, preview.context["confirm_form"].initial, follow=True
        )

        assert BackgroundJob.objects.count() == 1
        assert (
            f"Nothing was queued: A legacy import job is already queued (job {job.pk})"
            in response.content.decode()
        )


class TestUsageUpload:
    def test_usage_preview_and_confirm(self, staff):
        run_import(SAMPLE_CUSTOMERS, "--apply")
        preview = upload(staff, USAGE_IMPORT, "usage.csv", SAMPLE_USAGE.read_bytes())
        page = preview.content.decode()
        assert "Monthly usage: 109 to create, 0 to update, 0 unchanged" in page
        assert not MonthlyUsage.objects.exists()
        response = confirm(staff, USAGE_CONFIRM, preview)
        assert response.status_code == 302
        assert MonthlyUsage.objects.count() == 109

    def test_usage_of_unknown_users_is_refused(self, staff):
        response = upload(staff, USAGE_IMPORT, "usage.csv", usage_csv("ghost,2026-09,1,1,1"))
        assert "user_id &#x27;ghost&#x27; is neither in the customers file nor a customer here" in (
            response.content.decode()
        )


class TestAccess:
    def test_only_staff_reach_the_import(self, client):
        client.force_login(UserFactory(username="customer"))
        response = client.get(CUSTOMERS_IMPORT)
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")

    def test_staff_without_the_change_permission_cannot_import(self, client):
        client.force_login(UserFactory(username="viewer", is_staff=True))
        assert client.get(CUSTOMERS_IMPORT).status_code == 403
        response = upload(client, CUSTOMERS_IMPORT, "old.csv", SAMPLE_CUSTOMERS.read_bytes())
        assert response.status_code == 403
        assert client.post(CUSTOMERS_CONFIRM, {}).status_code == 403
        assert not Customer.objects.exists()

    def test_anonymous_is_sent_to_the_login(self, client):
        response = client.post(CUSTOMERS_CONFIRM, {})
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")
