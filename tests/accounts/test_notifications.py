"""E-mails recorded once in the outbox and delivered by a worker
(`accounts/services/notifications.py`), in bulk and one by one. The migration notice is only
the message these tests send."""

import pytest
from django.core import mail

from accounts.models import EmailNotification
from accounts.services.notifications import Recipient, email_send_once, email_send_once_bulk
from tests.accounts.factories import CustomerFactory, plan


def notice_context():
    from datetime import UTC, datetime

    from migration.batches.notices import migration_email_context

    return migration_email_context(
        plan("legacy_build"), plan("starter"), datetime(2027, 2, 15, tzinfo=UTC)
    )


@pytest.mark.django_db
class TestBulkEmails:
    def test_one_record_each_sent_after_commit_text_and_html(
        self, django_capture_on_commit_callbacks
    ):
        customers = [CustomerFactory() for _ in range(3)]
        context = notice_context()  # shared by all three
        with django_capture_on_commit_callbacks() as callbacks:
            count = email_send_once_bulk(
                kind="migration_notice",
                messages=[
                    (Recipient(c.pk, c.external_id, c.email), "move-2027-02-15", context)
                    for c in customers
                ],
            )
            assert count == 3 and len(mail.outbox) == 0  # nothing sent before commit
        for callback in callbacks:
            callback()
        assert sorted(m.to[0] for m in mail.outbox) == sorted(c.email for c in customers)
        for message, customer in zip(
            sorted(mail.outbox, key=lambda m: m.to[0]),
            sorted(customers, key=lambda c: c.email),
            strict=True,
        ):
            assert customer.external_id in message.body
            html, mimetype = message.alternatives[0]
            assert mimetype == "text/html" and customer.external_id in html
            assert "5,000 sessions" in html and "$29/month" in html
        assert EmailNotification.objects.filter(sent_at__isnull=False).count() == 3
        assert set(EmailNotification.objects.values_list("subject", flat=True)) == {
            "Your AI-Gate plan moves to Starter on February 15, 2027"
        }

    def test_rerun_sends_nothing_twice_even_after_a_single_send(
        self, django_capture_on_commit_callbacks
    ):
        a, b = CustomerFactory(), CustomerFactory()
        context = notice_context()
        email_send_once(customer=a, kind="migration_notice", dedupe_key="k", context=context)
        with django_capture_on_commit_callbacks(execute=True):
            count = email_send_once_bulk(
                kind="migration_notice",
                messages=[(a, "k", context), (b, "k", context)],
            )
            again = email_send_once_bulk(
                kind="migration_notice", messages=[(a, "k", context), (b, "k", context)]
            )
        assert (count, again) == (1, 0)
        assert EmailNotification.objects.count() == 2

    def test_a_conflict_while_inserting_falls_back_to_one_by_one(
        self, django_capture_on_commit_callbacks
    ):
        customer = CustomerFactory()
        context = notice_context()
        # The same key twice in one call: the bulk insert conflicts with itself, as it would
        # with a concurrent sender; the one-by-one path records it once.
        with django_capture_on_commit_callbacks(execute=True):
            count = email_send_once_bulk(
                kind="migration_notice",
                messages=[(customer, "k", context), (customer, "k", context)],
            )
        assert count == 1
        assert EmailNotification.objects.count() == 1 and len(mail.outbox) == 1

    def test_customers_without_an_address_are_skipped(self):
        customer = CustomerFactory(email="")
        assert (
            email_send_once_bulk(
                kind="migration_notice", messages=[(customer, "k", notice_context())]
            )
            == 0
        )
        assert not EmailNotification.objects.exists()

    def test_a_failing_mail_server_is_recorded_per_message(
        self, django_capture_on_commit_callbacks, monkeypatch
    ):
        customer = CustomerFactory()

        def refuse(self, messages):
            raise ConnectionRefusedError("smtp down")

        monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
        with django_capture_on_commit_callbacks(execute=True):
            email_send_once_bulk(
                kind="migration_notice", messages=[(customer, "k", notice_context())]
            )
        notification = EmailNotification.objects.get()
        assert notification.sent_at is None and "smtp down" in notification.error
