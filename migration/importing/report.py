"""What an import tells: the problems of a rejected file, and what it did (or would do).

Every problem is an `ImportIssue` naming the file, the line and the reason; reading and
checking go on after a bad row, so that a file is reported whole rather than one error per
attempt, and `ImportRejected` carries them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from accounts.errors import InvalidInput
from accounts.models import Plan

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"


@dataclass(frozen=True)
class ImportIssue:
    """One reason a file cannot be imported. `line` is None for the file as a whole."""

    file: str
    line: int | None
    reason: str
    column: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


class ImportRejected(InvalidInput):
    code = "import_rejected"

    def __init__(self, issues: Sequence[ImportIssue]) -> None:
        files = ", ".join(dict.fromkeys(issue.file for issue in issues))
        super().__init__(
            f"{len(issues)} error{'s' if len(issues) != 1 else ''} in {files}; nothing was "
            "imported."
        )
        self.issues = list(issues)


@dataclass(frozen=True)
class RowOutcome:
    """What the import does with one row; `changes` holds (field, old, new) for display."""

    file: str
    line: int
    key: str
    action: str
    changes: tuple[tuple[str, str, str], ...] = ()
    note: str = ""


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return f"{self.created:,} created, {self.updated:,} updated, {self.unchanged:,} unchanged"


@dataclass
class ImportReport:
    applied: bool
    customers: Tally = field(default_factory=Tally)
    usage: Tally = field(default_factory=Tally)
    plan_changes: int = 0
    kept_on_session_plans: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def shown_value(value) -> str:
    """A value as the `changes` of a RowOutcome show it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Plan):
        return value.code
    return str(value)
