"""`--wait` (`migration/management/waiting.py`): the commands hand e-mails and Stripe price
moves to the queue and, with --wait, follow them until the workers have delivered them.

With the test settings a worker runs each task when the transaction that queued it commits:
the commands run in autocommit here (`transaction=True`) so that it happens during the command.
With the database queue no worker runs: the wait gives up after --wait-timeout, and the work
stays queued (the batch is applied all the same).
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import BatchStatus, ChangeSource, EmailNotification, MigrationBatch
from billing.models import PriceMoveStatus, StripePriceMove
from tests.accounts.factories import plan
from tests.migration.support import legacy_customer, migration_fields, run
from tests.support.stripe import legacy_subscriber, price_at_stripe

DELIVERED_ONE_NOTICE = "Delivered: e-mails 1 of 1 done · Stripe moves 0 of 0."


@pytest.fixture
def priced_plans(settings):
    settings.STRIPE_PRICE_STARTER = settings.STRIPE_PRICE_GROWTH = ""
    for code, price in [("legacy_build", "price_build"), ("starter", "price_starter")]:
        p = plan(code)
        p.stripe_price_id = price
        p.save(update_fields=["stripe_price_id"])


def run_until_given_up(*args) -> tuple[str, str, CommandError]:
    """Run a command that is expected to give up waiting: (stdout, stderr, the error)."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), raised.value


def batch_id(out: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith("batch "))


@pytest.mark.django_db(transaction=True)
class TestDelivered:
    def test_migrate_to_sessions_returns_once_the_notice_is_sent(self):
        customer = legacy_customer("legacy_build")
        out, err = run("migrate_to_sessions", "--notify", "--apply", "--wait")
        assert out.rstrip().endswith(DELIVERED_ONE_NOTICE)
        assert "waiting: e-mails 1 of 1 done" in err
        assert [m.to for m in mail.outbox] == [[customer.email]]
        assert EmailNotification.objects.get(customer=customer).sent_at is not None

    def test_without_wait_it_does_not_follow_the_workers(self):
        legacy_customer("legacy_build")
        out, err = run("migrate_to_sessions", "--notify", "--apply")
        assert "Delivered" not in out and "waiting" not in err
        assert len(mail.outbox) == 1

    def test_apply_grandfathering_returns_once_the_moved_e_mail_is_sent(self):
        customer = legacy_customer(
            "legacy_pro",
            grandfathered_until=timezone.now() - timedelta(hours=1),
            grandfather_plan=plan("growth"),
        )
        out, _ = run("apply_grandfathering", "--wait")
        assert out.rstrip().endswith(DELIVERED_ONE_NOTICE)
        assert migration_fields(customer)[0] == "growth"
        assert [m.to for m in mail.outbox] == [[customer.email]]

    def test_rollback_batch_returns_once_the_subscription_is_moved_back(self, api, held_standin):
        subscription = legacy_subscriber(api, held_standin, "dan", "legacy_build")
        legacy_price = plan("legacy_build").stripe_price_id
        out, _ = run("migrate_to_sessions", "--customers", "dan", "--now", "--apply")
        assert price_at_stripe(subscription) == plan("starter").stripe_price_id

        out, err = run("rollback_batch", batch_id(out), "--wait")

        assert out.rstrip().endswith("Delivered: e-mails 0 of 0 done · Stripe moves 2 of 2.")
        assert "waiting: e-mails 0 of 0 done · Stripe moves 2 of 2" in err
        assert price_at_stripe(subscription) == legacy_price
        assert set(StripePriceMove.objects.values_list("status", flat=True)) == {
            PriceMoveStatus.DONE
        }


@pytest.mark.django_db
@pytest.mark.usefixtures("database_queue")
class TestNoWorker:
    def test_migrate_to_sessions_gives_up_after_the_timeout_and_the_batch_stands(self):
        customer = legacy_customer("legacy_build")
        out, err, error = run_until_given_up(
            "migrate_to_sessions", "--notify", "--apply", "--wait", "--wait-timeout", "1"
        )
        assert str(error).startswith(
            "Still waiting after 1 s: e-mails 0 of 1 done · Stripe moves 0 of 0. The work goes "
            "on in the background"
        )
        assert "Applied: 1 customer(s) changed." in out and "Delivered" not in out
        assert "waiting: e-mails 0 of 1 done" in err
        batch = MigrationBatch.objects.get(pk=batch_id(out))
        assert batch.status == BatchStatus.APPLIED
        assert migration_fields(customer)[1] is not None  # grandfathered
        notice = EmailNotification.objects.get(customer=customer)
        assert (notice.status, notice.sent_at) == ("pending", None)
        assert DBTaskResult.objects.filter(
            task_path="accounts.services.notifications.deliver_emails",
            args_kwargs__args=[[notice.pk]],
        ).exists()
        assert mail.outbox == []

    @pytest.mark.usefixtures("priced_plans")
    def test_rollback_batch_gives_up_after_the_timeout_and_the_rollback_stands(self):
        customer = legacy_customer("legacy_build", stripe_subscription_id="sub_1")
        out, _ = run("migrate_to_sessions", "--now", "--apply")
        assert migration_fields(customer)[0] == "starter"

        out, err, error = run_until_given_up(
            "rollback_batch", batch_id(out), "--wait", "--wait-timeout", "1"
        )

        assert str(error).startswith(
            "Still waiting after 1 s: e-mails 0 of 0 done · Stripe moves 0 of 2."
        )
        assert "rolled back." in out and "Delivered" not in out
        assert "waiting: e-mails 0 of 0 done · Stripe moves 0 of 2" in err
        assert migration_fields(customer)[0] == "legacy_build"
        moves = StripePriceMove.objects.order_by("pk")
        assert [(m.to_price_id, m.status) for m in moves] == [
            ("price_starter", PriceMoveStatus.PENDING),
            ("price_build", PriceMoveStatus.PENDING),
        ]
        assert moves[1].plan_change.source == ChangeSource.ROLLBACK
        assert (
            DBTaskResult.objects.filter(
                task_path="billing.services.stripe_price_moves.send_price_moves"
            ).count()
            == 2
        )
