"""The commands as cron and staff run them: outside any test transaction (autocommit), so that
row locks, transaction boundaries and after-commit e-mails behave as in production."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.models import EmailNotification, MigrationBatch, PlanChange
from tests.accounts.factories import plan
from tests.migration.support import database_state, legacy_customer, migration_fields


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_full_cycle_in_autocommit():
    build = legacy_customer("legacy_build", email="build@example.com")
    ended = legacy_customer(
        "legacy_pro",
        email="pro@example.com",
        grandfathered_until=timezone.now() - timedelta(hours=1),
        grandfather_plan=plan("growth"),
    )
    before = database_state()
    assert "Dry run: nothing changed." in run("migrate_to_sessions", "--dry-run")
    assert "Dry run" in run("apply_grandfathering", "--dry-run")
    assert database_state() == before

    out = run("migrate_to_sessions", "--notify", "--apply")
    batch_id = out.splitlines()[-1].split()[1]
    assert [m.to for m in mail.outbox] == [["build@example.com"]]  # delivered after commit
    assert EmailNotification.objects.get(customer=build).sent_at is not None

    out = run("apply_grandfathering")
    assert migration_fields(ended)[0] == "growth"
    assert sorted(m.to[0] for m in mail.outbox) == ["build@example.com", "pro@example.com"]
    assert "nothing to do" in run("apply_grandfathering")

    assert "Dry run" in run("rollback_batch", batch_id, "--dry-run")
    run("rollback_batch", batch_id)
    assert migration_fields(build) == ("legacy_build", None, None, False)
    assert MigrationBatch.objects.count() == 2
    assert PlanChange.objects.filter(batch_id=batch_id).count() == 2  # change and its rollback
