"""The one progress type of long operations (bulk batches, imports, the Stripe outbox)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""Called as progress(phase, done, total) while a long operation runs."""


def no_progress(phase: str, done: int, total: int) -> None:
    return None
