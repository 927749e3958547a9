"""Real races on PostgreSQL: overlapping cron runs and a batch racing the end of
grandfathering, each thread on its own connection."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import BatchKind, EmailNotification, MigrationBatch, PlanChange
from migration.batches.apply import migration_run
from migration.batches.grandfathering import grandfathering_apply
from migration.batches.selection import CustomerSelection
from tests.accounts.factories import plan
from tests.migration.support import legacy_customer, migration_fields
from tests.support.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_overlapping_grandfathering_runs_move_each_customer_once():
    ended = timezone.now() - timedelta(minutes=5)
    customers = [
        legacy_customer("legacy_build", grandfathered_until=ended, grandfather_plan=plan("starter"))
        for _ in range(30)
    ]
    results = race(4, lambda i: grandfathering_apply(actor=f"cron-{i}"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if r.batch is not None) == 1
    assert MigrationBatch.objects.count() == 1
    for customer in customers:
        assert migration_fields(customer) == ("starter", None, None, False)
        assert PlanChange.objects.filter(customer=customer).count() == 1
    assert EmailNotification.objects.filter(kind="migrated").count() == 30
    assert len(mail.outbox) == 30


def test_a_batch_racing_the_grandfathering_end_never_double_moves():
    ended = timezone.now() - timedelta(minutes=5)
    customers = [
        legacy_customer("legacy_pro", grandfathered_until=ended, grandfather_plan=plan("growth"))
        for _ in range(20)
    ]
    selection = CustomerSelection(customer_ids=tuple(c.pk for c in customers))
    calls = [
        lambda: grandfathering_apply(actor="cron"),
        lambda: migration_run(kind=BatchKind.END_GRANDFATHERING, selection=selection, actor="t"),
    ]
    results = race(2, lambda i: calls[i]())
    assert not [r for r in results if isinstance(r, Exception)], results
    for customer in customers:
        assert migration_fields(customer) == ("growth", None, None, False)
        # Whichever ran second found nobody grandfathered any more.
        assert PlanChange.objects.filter(customer=customer).count() == 1
