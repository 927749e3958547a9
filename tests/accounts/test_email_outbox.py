"""The e-mail outbox (`accounts/services/notifications.py`): recorded in the caller's
transaction, delivered by a worker once it commits, retried after temporary failures, failed
for staff after permanent ones, recovered when a worker dies, sent again from the admin.

The payment-failed e-mail is only the message these tests send: its templates show a model
(the plan) and a formatted date from the stored context. Mail servers that fail are
`tests.support.mail.FailingEmailBackend`; the clock is frozen at NOW.
"""

import smtplib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import transaction
from django.utils import timezone
from django_tasks.signals import task_finished

from accounts.models import EmailKind, EmailNotification, EmailStatus
from accounts.services.email_context import context_encode, contexts_decode
from accounts.services.notifications import (
    BACKOFF_SECONDS,
    DELIVERY_CHUNK,
    MAX_ATTEMPTS,
    REQUEUE_PENDING_AFTER,
    RecoveryRun,
    email_send_once,
    email_send_once_bulk,
    emails_deliver,
    emails_recover,
    emails_retry,
)
from tests.accounts.factories import (
    CustomerFactory,
    EmailNotificationFactory,
    UserFactory,
    plan,
)
from tests.support.mail import FailingEmailBackend
from tests.support.workers import worker_runs

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
NEXT_ATTEMPT = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
CHANGELIST = "/admin/accounts/emailnotification/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def failing_mail(settings):
    """The mail server of these tests: `failing_mail.fail_next(n, error)` makes it fail."""
    settings.EMAIL_BACKEND = "tests.support.mail.FailingEmailBackend"
    FailingEmailBackend.reset()
    yield FailingEmailBackend
    FailingEmailBackend.reset()


@pytest.fixture
def lease(settings) -> timedelta:
    settings.OUTBOX_LEASE_SECONDS = 60
    return timedelta(seconds=60)


@pytest.fixture
def deliveries():
    """The delivery tasks that ran, in order: (how many rows each was given, its outcome)."""
    ran = []

    def record(sender, task_result, **kwargs):
        if task_result.task.name == "deliver_emails":
            ran.append((len(task_result.args[0]), task_result.return_value))

    task_finished.connect(record)
    yield ran
    task_finished.disconnect(record)


def payment_failed(customer, *, invoice: str = "in_1") -> EmailNotification | None:
    return email_send_once(
        customer=customer,
        kind=EmailKind.PAYMENT_FAILED,
        dedupe_key=invoice,
        context={
            "amount": "$29.00",
            "invoice_number": "INV-0042",
            "invoice_url": "",
            "next_attempt": NEXT_ATTEMPT,
            "plan": plan("starter"),
        },
    )


def sent_to(address: str) -> int:
    return sum(1 for message in mail.outbox if message.to == [address])


def row(notification: EmailNotification) -> EmailNotification:
    return EmailNotification.objects.get(pk=notification.pk)


def travel(moment: datetime):
    return time_machine.travel(moment, tick=False)


class TestRecordedWithItsCause:
    def test_recorded_in_the_transaction_and_sent_when_it_commits(self):
        customer = CustomerFactory()
        with worker_runs() as callbacks:
            notification = payment_failed(customer)
            recorded = row(notification)
            assert (recorded.status, recorded.attempts, recorded.sent_at) == (
                EmailStatus.PENDING,
                0,
                None,
            )
            assert mail.outbox == []  # nothing leaves before the commit
        assert len(callbacks) == 1
        sent = row(notification)
        assert (sent.status, sent.attempts, sent.sent_at, sent.claimed_at, sent.error) == (
            EmailStatus.SENT,
            1,
            NOW,
            None,
            "",
        )
        [message] = mail.outbox
        assert message.to == [customer.email]
        assert message.subject == "Your AI-Gate payment of $29.00 failed"
        assert "your AI-Gate Starter plan (invoice INV-0042)" in message.body
        assert "We will try again on 18 November 2026." in message.body
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html" and "18 November 2026" in html

    def test_a_model_in_the_context_is_read_again_when_sending(self):
        customer = CustomerFactory()
        with worker_runs():
            payment_failed(customer)
            starter = plan("starter")
            starter.name = "Starter 2027"
            starter.save(update_fields=["name"])
        [message] = mail.outbox
        assert "your AI-Gate Starter 2027 plan" in message.body

    def test_a_rolled_back_savepoint_records_and_sends_nothing(self):
        customer = CustomerFactory()
        with worker_runs() as callbacks, transaction.atomic():
            assert payment_failed(customer) is not None
            transaction.set_rollback(True)
        assert callbacks == []
        assert not EmailNotification.objects.exists()
        assert mail.outbox == []

    def test_the_same_key_again_records_and_sends_nothing(self):
        customer = CustomerFactory()
        with worker_runs():
            first = payment_failed(customer)
        with worker_runs() as callbacks:
            assert payment_failed(customer) is None
        assert callbacks == []
        assert list(EmailNotification.objects.values_list("pk", flat=True)) == [first.pk]
        assert sent_to(customer.email) == 1
        with worker_runs():
            payment_failed(customer, invoice="in_2")  # another invoice: another e-mail
        assert sent_to(customer.email) == 2

    def test_a_delivery_task_run_twice_sends_once(self):
        customer = CustomerFactory()
        with worker_runs():
            notification = payment_failed(customer)
        assert emails_deliver(ids=[notification.pk]) == {
            "sent": 0,
            "retry": 0,
            "failed": 0,
            "skipped": 1,
        }
        assert sent_to(customer.email) == 1 and row(notification).attempts == 1

    def test_a_row_not_due_yet_is_left_for_later(self, failing_mail):
        failing_mail.fail_next(1, smtplib.SMTPServerDisconnected("dropped"))
        with worker_runs():
            notification = payment_failed(CustomerFactory())
        # A stray task (say, one staff queued by hand) runs before the backoff is over.
        assert emails_deliver(ids=[notification.pk])["skipped"] == 1
        waiting = row(notification)
        assert (waiting.status, waiting.attempts) == (EmailStatus.PENDING, 1)
        assert mail.outbox == []

    def test_a_context_that_is_not_json_is_refused_and_nothing_is_recorded(self):
        with pytest.raises(TypeError, match=r"cannot be stored: pass plain values"):
            email_send_once(
                customer=CustomerFactory(),
                kind=EmailKind.PAYMENT_FAILED,
                dedupe_key="in_1",
                context={"amount": "$29.00", "plan": {"starter"}},
            )
        assert not EmailNotification.objects.exists()


TEMPORARY = [
    pytest.param(
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        "SMTPServerDisconnected: Connection unexpectedly closed",
        id="disconnected",
    ),
    pytest.param(
        smtplib.SMTPResponseException(451, b"try later"),
        "SMTPResponseException: (451, b'try later')",
        id="451",
    ),
    pytest.param(
        ConnectionRefusedError(111, "Connection refused"),
        "ConnectionRefusedError: [Errno 111] Connection refused",
        id="refused-connection",
    ),
]


class TestTemporaryFailures:
    @pytest.mark.parametrize(("error", "text"), TEMPORARY)
    def test_pending_again_after_a_backoff_and_sent_once_when_due(self, failing_mail, error, text):
        customer = CustomerFactory()
        failing_mail.fail_next(1, error)
        with worker_runs():
            notification = payment_failed(customer)
        waiting = row(notification)
        assert (
            waiting.status,
            waiting.attempts,
            waiting.next_attempt_at,
            waiting.claimed_at,
            waiting.sent_at,
            waiting.error,
        ) == (EmailStatus.PENDING, 1, NOW + timedelta(seconds=BACKOFF_SECONDS[0]), None, None, text)
        assert mail.outbox == []

        due = waiting.next_attempt_at
        with travel(due - timedelta(seconds=1)), worker_runs() as callbacks:
            assert emails_recover(now=timezone.now()) == RecoveryRun(released=0, queued=0)
        assert callbacks == [] and mail.outbox == []

        with travel(due), worker_runs():
            assert emails_recover(now=timezone.now()) == RecoveryRun(released=0, queued=1)
        sent = row(notification)
        assert (sent.status, sent.attempts, sent.sent_at, sent.error) == (
            EmailStatus.SENT,
            2,
            due,
            "",
        )
        with travel(due + timedelta(hours=1)), worker_runs():
            assert emails_recover(now=timezone.now()) == RecoveryRun(released=0, queued=0)
        assert sent_to(customer.email) == 1

    def test_a_recipient_refused_with_4xx_is_retried(self, failing_mail):
        customer = CustomerFactory()
        failing_mail.fail_next(
            1, smtplib.SMTPRecipientsRefused({customer.email: (450, b"mailbox busy")})
        )
        with worker_runs():
            notification = payment_failed(customer)
        waiting = row(notification)
        assert (waiting.status, waiting.next_attempt_at) == (
            EmailStatus.PENDING,
            NOW + timedelta(seconds=BACKOFF_SECONDS[0]),
        )

    def test_failed_with_gave_up_after_the_last_attempt(self, failing_mail):
        customer = CustomerFactory()
        failing_mail.fail_next(MAX_ATTEMPTS, smtplib.SMTPServerDisconnected("dropped"))
        with worker_runs():
            notification = payment_failed(customer)
        waits, failed_at = [], NOW
        for _ in range(MAX_ATTEMPTS - 1):
            waiting = row(notification)
            assert waiting.status == EmailStatus.PENDING
            waits.append((waiting.next_attempt_at - failed_at).total_seconds())
            failed_at = waiting.next_attempt_at
            with travel(failed_at), worker_runs():
                assert emails_recover().queued == 1
        assert waits == list(BACKOFF_SECONDS)
        failed = row(notification)
        assert (failed.status, failed.attempts, failed.claimed_at, failed.error) == (
            EmailStatus.FAILED,
            MAX_ATTEMPTS,
            None,
            f"gave up after {MAX_ATTEMPTS} attempts: SMTPServerDisconnected: dropped",
        )
        assert len(failing_mail.refused) == MAX_ATTEMPTS and mail.outbox == []
        with travel(failed_at + timedelta(days=2)), worker_runs():
            assert emails_recover() == RecoveryRun(released=0, queued=0)
        assert row(notification).attempts == MAX_ATTEMPTS


class TestPermanentFailures:
    @pytest.mark.parametrize(
        ("error", "text"),
        [
            pytest.param(
                smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no such user")}),
                "SMTPRecipientsRefused: {'x@example.com': (550, b'no such user')}",
                id="550-recipient-refused",
            ),
            pytest.param(
                smtplib.SMTPDataError(554, b"message rejected"),
                "SMTPDataError: (554, b'message rejected')",
                id="554-data-error",
            ),
        ],
    )
    def test_failed_at_once_with_the_reason(self, failing_mail, error, text):
        customer = CustomerFactory()
        failing_mail.fail_next(1, error)
        with worker_runs():
            notification = payment_failed(customer)
        failed = row(notification)
        assert (failed.status, failed.attempts, failed.claimed_at, failed.sent_at) == (
            EmailStatus.FAILED,
            1,
            None,
            None,
        )
        assert failed.error == text
        with travel(NOW + timedelta(days=1)), worker_runs():
            assert emails_recover() == RecoveryRun(released=0, queued=0)
        assert mail.outbox == [] and row(notification).status == EmailStatus.FAILED

    def test_a_kind_without_templates_fails_with_the_missing_template(self):
        # Recorded when the kind still had templates; they are gone by the time it is sent.
        notification = EmailNotificationFactory(kind="retired_kind", next_attempt_at=NOW)
        outcome = emails_deliver(ids=[notification.pk])
        assert outcome == {"sent": 0, "retry": 0, "failed": 1, "skipped": 0}
        failed = row(notification)
        assert (failed.status, failed.attempts) == (EmailStatus.FAILED, 1)
        assert failed.error == "TemplateDoesNotExist: emails/retired_kind.txt"
        assert mail.outbox == []


class TestSentAgainByStaff:
    @pytest.fixture
    def three(self, failing_mail):
        """A failed e-mail, a sent one and one pending after a temporary failure."""
        failed, sent, pending = CustomerFactory(), CustomerFactory(), CustomerFactory()
        failing_mail.fail_next(1, smtplib.SMTPDataError(554, b"message rejected"))
        with worker_runs():
            payment_failed(failed)
        with worker_runs():
            payment_failed(sent)
        failing_mail.fail_next(1, smtplib.SMTPResponseException(451, b"try later"))
        with worker_runs():
            payment_failed(pending)
        rows = {
            name: EmailNotification.objects.get(customer=customer)
            for name, customer in (("failed", failed), ("sent", sent), ("pending", pending))
        }
        assert [rows[name].status for name in ("failed", "sent", "pending")] == [
            EmailStatus.FAILED,
            EmailStatus.SENT,
            EmailStatus.PENDING,
        ]
        return rows

    def states(self, rows) -> dict:
        return {
            name: EmailNotification.objects.filter(pk=notification.pk)
            .values("status", "attempts", "sent_at", "next_attempt_at", "error")
            .get()
            for name, notification in rows.items()
        }

    def assert_only_the_failed_one_was_sent_again(self, rows, before, after):
        assert after["failed"] == {
            "status": EmailStatus.SENT,
            "attempts": 1,  # attempts start over
            "sent_at": NOW,
            "next_attempt_at": NOW,
            "error": "",
        }
        assert (after["sent"], after["pending"]) == (before["sent"], before["pending"])
        assert Counter(m.to[0] for m in mail.outbox) == {
            rows["failed"].to_email: 1,
            rows["sent"].to_email: 1,
        }

    def test_emails_retry_sends_the_failed_ones_and_leaves_the_others_alone(self, three):
        before = self.states(three)
        with worker_runs():
            queued = emails_retry(ids=[r.pk for r in three.values()])
        assert queued == 1
        self.assert_only_the_failed_one_was_sent_again(three, before, self.states(three))

    def test_the_admin_action_sends_the_failed_ones_again(self, three, staff_client):
        before = self.states(three)
        page = staff_client.get(CHANGELIST).content.decode()
        assert "Send the failed ones again" in page
        with worker_runs():
            response = staff_client.post(
                CHANGELIST,
                {"action": "send_again", "_selected_action": [r.pk for r in three.values()]},
                follow=True,
            )
        assert response.status_code == 200
        assert (
            "1 e-mail(s) queued to be sent again; 2 left alone (only failed ones are sent again)."
            in response.content.decode()
        )
        self.assert_only_the_failed_one_was_sent_again(three, before, self.states(three))

    def test_staff_who_may_only_view_the_outbox_can_neither_see_nor_run_it(self, three, client):
        viewer = UserFactory(username="viewer", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_emailnotification"))
        client.force_login(viewer)
        page = client.get(CHANGELIST)
        assert page.status_code == 200
        assert three["failed"].to_email in page.content.decode()
        assert "Send the failed ones again" not in page.content.decode()
        before = self.states(three)
        with worker_runs():
            client.post(
                CHANGELIST,
                {"action": "send_again", "_selected_action": [three["failed"].pk]},
            )
        assert self.states(three) == before
        assert sent_to(three["failed"].to_email) == 0


class TestRecovery:
    def test_a_row_whose_worker_died_is_given_back_and_sent_once(self, lease):
        # Recorded and claimed a while ago by a worker that died while sending.
        dead, alive = CustomerFactory(), CustomerFactory()
        for customer, claimed_at in (
            (dead, NOW - lease - timedelta(seconds=1)),
            (alive, NOW - timedelta(seconds=5)),
        ):
            EmailNotificationFactory(
                customer=customer,
                kind=EmailKind.PAYMENT_FAILED,
                context=context_encode({"plan": plan("starter"), "amount": "$29.00"}),
                status=EmailStatus.SENDING,
                attempts=1,
                claimed_at=claimed_at,
                next_attempt_at=claimed_at,
                queued_at=claimed_at,
            )
        alive_before = EmailNotification.objects.filter(customer=alive).values().get()

        with worker_runs():
            assert emails_recover() == RecoveryRun(released=1, queued=1)

        given_back = EmailNotification.objects.get(customer=dead)
        assert (given_back.status, given_back.attempts, given_back.claimed_at) == (
            EmailStatus.SENT,
            2,
            None,
        )
        assert EmailNotification.objects.filter(customer=alive).values().get() == alive_before
        with travel(NOW + timedelta(seconds=30)), worker_runs():
            assert emails_recover() == RecoveryRun(released=0, queued=0)
        assert sent_to(dead.email) == 1 and sent_to(alive.email) == 0
        assert "your AI-Gate Starter plan" in mail.outbox[0].body

    def test_a_delivery_that_outlasts_its_lease_never_sends_a_row_twice(
        self, failing_mail, lease, django_capture_on_commit_callbacks
    ):
        """A relay that takes 20 s a message (EMAIL_TIMEOUT is 30 s): a minute after the worker
        claimed its rows, the scheduler's `emails_recover` gives back those whose lease ran out
        and another worker sends them, while the first one carries on through its list."""
        customers = CustomerFactory.create_batch(5)
        with django_capture_on_commit_callbacks():  # the first worker is called below
            email_send_once_bulk(
                kind=EmailKind.PAYMENT_FAILED,
                messages=[(c, "in_1", {"plan": plan("starter")}) for c in customers],
            )
        ids = list(EmailNotification.objects.values_list("pk", flat=True))
        recoveries = []
        with time_machine.travel(NOW, tick=False) as clock:

            def slow_relay():
                clock.shift(20)
                if len(mail.outbox) == 3 and not recoveries:  # the 4th, 80 s after the claim
                    with worker_runs():  # the scheduler, and a worker picking up its task
                        recoveries.append(emails_recover())

            failing_mail.meanwhile = slow_relay
            outcome = emails_deliver(ids=ids)
        # The row it was sending had its lease renewed; the last one, given back meanwhile and
        # sent by the other worker, it skips.
        assert recoveries == [RecoveryRun(released=1, queued=1)]
        assert outcome == {"sent": 4, "retry": 0, "failed": 0, "skipped": 1}
        assert Counter(m.to[0] for m in mail.outbox) == {c.email: 1 for c in customers}
        assert EmailNotification.objects.filter(status=EmailStatus.SENT).count() == 5

    def test_a_failure_after_the_lease_ran_out_leaves_the_other_workers_send_alone(
        self, failing_mail, lease, django_capture_on_commit_callbacks
    ):
        """The relay fails this worker's send after its lease ran out, the row was given back
        and another worker sent it: the row stays sent (it used to be put back to pending, to
        be sent a third time)."""
        customer = CustomerFactory()
        with django_capture_on_commit_callbacks():
            email_send_once_bulk(
                kind=EmailKind.PAYMENT_FAILED,
                messages=[(customer, "in_1", {"plan": plan("starter")})],
            )
        [row_id] = EmailNotification.objects.values_list("pk", flat=True)
        with time_machine.travel(NOW, tick=False) as clock:

            def slow_relay():
                if failing_mail.meanwhile is None:
                    return
                failing_mail.meanwhile = None
                clock.shift(61)
                with worker_runs():  # the lease ran out: given back, another worker sends it
                    emails_recover()
                failing_mail.fail_next(1, smtplib.SMTPResponseException(451, b"try later"))

            failing_mail.meanwhile = slow_relay
            emails_deliver(ids=[row_id])
        row = EmailNotification.objects.get()
        assert (row.status, row.error) == (EmailStatus.SENT, "")
        assert sent_to(customer.email) == 1

    def test_the_lease_must_outlast_every_smtp_reply_of_one_send(self, settings):
        from accounts.checks import outbox_lease_outlasts_one_send

        settings.EMAIL_TIMEOUT, settings.OUTBOX_LEASE_SECONDS = 10, 120
        assert outbox_lease_outlasts_one_send(None) == []
        settings.EMAIL_TIMEOUT, settings.OUTBOX_LEASE_SECONDS = 30, 60  # the old defaults
        [warning] = outbox_lease_outlasts_one_send(None)
        assert warning.id == "accounts.W001" and "above 300" in warning.hint

    def test_a_row_whose_task_was_lost_is_queued_again_after_an_hour(self):
        customer = CustomerFactory()
        # Recorded and queued, but the task never ran (its worker died holding it).
        notification = EmailNotificationFactory(
            customer=customer,
            kind=EmailKind.PAYMENT_FAILED,
            next_attempt_at=NOW,
            queued_at=NOW,
        )
        with travel(NOW + REQUEUE_PENDING_AFTER - timedelta(minutes=1)), worker_runs():
            assert emails_recover() == RecoveryRun(released=0, queued=0)  # its task may run
        with travel(NOW + REQUEUE_PENDING_AFTER + timedelta(seconds=1)), worker_runs():
            assert emails_recover() == RecoveryRun(released=0, queued=1)
        assert row(notification).status == EmailStatus.SENT
        assert sent_to(customer.email) == 1


def notice_context() -> dict:
    from migration.batches.notices import migration_email_context

    return migration_email_context(plan("legacy_build"), plan("starter"), NOW + timedelta(days=92))


class TestBulk:
    def test_250_notices_are_three_deliveries_and_each_is_sent_once(self, deliveries):
        customers = CustomerFactory.create_batch(250)
        context = notice_context()  # shared, as a batch shares it per move
        messages = [(c, "move-2027-02-15", context) for c in customers]
        with worker_runs() as callbacks:
            assert email_send_once_bulk(kind=EmailKind.MIGRATION_NOTICE, messages=messages) == 250
            assert mail.outbox == []
        assert DELIVERY_CHUNK == 100 and len(callbacks) == 3
        assert deliveries == [
            (100, {"sent": 100, "retry": 0, "failed": 0, "skipped": 0}),
            (100, {"sent": 100, "retry": 0, "failed": 0, "skipped": 0}),
            (50, {"sent": 50, "retry": 0, "failed": 0, "skipped": 0}),
        ]
        assert Counter(m.to[0] for m in mail.outbox) == {c.email: 1 for c in customers}
        assert EmailNotification.objects.filter(status=EmailStatus.SENT).count() == 250

        with worker_runs() as callbacks:
            assert email_send_once_bulk(kind=EmailKind.MIGRATION_NOTICE, messages=messages) == 0
        assert callbacks == []
        assert EmailNotification.objects.count() == 250 and len(mail.outbox) == 250

    def test_a_delivery_task_sends_its_chunk_over_one_connection(self, failing_mail):
        customers = CustomerFactory.create_batch(10)
        with worker_runs():
            email_send_once_bulk(
                kind=EmailKind.MIGRATION_NOTICE,
                messages=[(c, "move-2027-02-15", notice_context()) for c in customers],
            )
        assert len(mail.outbox) == 10
        assert failing_mail.connections == 1


class TestContext:
    def test_a_value_that_is_not_json_is_refused_with_what_to_do(self):
        with pytest.raises(TypeError) as raised:
            context_encode({"plan": plan("starter"), "tags": [object]})
        assert "cannot be stored: pass plain values" in str(raised.value)

    def test_dates_decimals_and_models_round_trip_with_one_query_per_model(
        self, django_assert_num_queries
    ):
        customer = CustomerFactory()
        first = {
            "plan": plan("starter"),
            "customer": customer,
            "at": datetime(2026, 11, 18, 9, 30, 15, 250, tzinfo=UTC),
            "day": date(2027, 2, 15),
            "amount": Decimal("29.90"),
            "nested": [{"plan": plan("growth")}, 3, "text", None, True, 1.5],
        }
        second = {"plan": plan("growth"), "customer": customer, "day": date(2026, 12, 1)}
        stored = [
            EmailNotificationFactory(context=context_encode(context)).pk
            for context in (first, second)
        ]
        encoded = [EmailNotification.objects.get(pk=pk).context for pk in stored]  # from JSON
        assert encoded[0]["plan"] == {"$model": "accounts.plan", "pk": plan("starter").pk}
        with django_assert_num_queries(2):  # plans, customers
            decoded = contexts_decode(encoded)
        assert decoded == [first, second]
        assert decoded[0]["at"].tzinfo is not None
        assert isinstance(decoded[0]["amount"], Decimal) and type(decoded[0]["day"]) is date
