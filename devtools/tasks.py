"""A task backend for the test suite and quick experiments: each task runs in this process
when the transaction that queued it commits (at once outside a transaction), like a worker
picking it up right away. Production and `make run` use the database queue and `db_worker`.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django_tasks.backends.immediate import ImmediateBackend


class ImmediateOnCommitBackend(ImmediateBackend):
    """Django's ImmediateBackend, deferred to the commit of the enqueuing transaction: a task
    queued in a transaction that rolls back never runs, as with the database queue."""

    def _execute_task(self, task_result) -> None:
        transaction.on_commit(partial(self._run, task_result))

    def _run(self, task_result) -> None:
        super()._execute_task(task_result)
        if task_result.errors:  # a task that raised is a bug: show it, do not swallow it
            raise TaskFailed(task_result.errors[-1].traceback)


class TaskFailed(RuntimeError):
    """A task raised while it ran in-process; the message is its traceback."""
