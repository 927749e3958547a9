"""Tests where a worker picks up the tasks a request queued, right after it commits."""

from django.test import TestCase


def worker_runs():
    """Run the on-commit callbacks of the block, which is where the test settings' task
    backend (`devtools.tasks.ImmediateOnCommitBackend`) runs the tasks the block queued: as a
    worker would, right after the request's transaction commits. Nested blocks are harmless:
    every task claims its work first, so a second run does nothing."""
    return TestCase.captureOnCommitCallbacks(execute=True)
