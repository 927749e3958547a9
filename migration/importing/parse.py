"""Reading the old minute-based system's CSV exports: their columns, encoding and header.

No database access here. A file is decoded and split into rows of named values; the checks
of each row are in `checks`.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from migration.importing.report import ImportIssue

# The old system's plan names and the portal's codes for them.
OLD_PLAN_CODES = {
    "free": "legacy_free",
    "starter": "legacy_starter",
    "build": "legacy_build",
    "pro": "legacy_pro",
    "agency": "legacy_agency",
}
OLD_PLAN_NAMES = {code: name for name, code in OLD_PLAN_CODES.items()}

CUSTOMER_COLUMNS = (
    "user_id",
    "email",
    "plan",
    "price_cents",
    "stripe_customer_id",
    "stripe_subscription_id",
    "created_at",
)
# Written by the portal's own export, so that an export can be imported back unambiguously
# ("free" and "starter" are both old plan names and session plan codes).
CUSTOMER_OPTIONAL_COLUMNS = ("plan_code",)
USAGE_COLUMNS = (
    "user_id",
    "month",
    "total_minutes_used",
    "total_sessions",
    "successful_sessions",
)
# Also written by the portal's export; derived from the columns above when absent.
USAGE_OPTIONAL_COLUMNS = ("failed_sessions", "billable_minutes")
_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


@dataclass
class CsvTable:
    file: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def quoted(value: str, limit: int = 60) -> str:
    """A value as the messages quote it: its repr, cut after `limit` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def csv_table_read(
    data: bytes, *, file_name: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> CsvTable:
    """Decode and split a CSV file; check its encoding, delimiter and header.

    UTF-8 with or without a byte-order mark is accepted; the header must name every column
    of `columns` (in any order); other columns are ignored and reported.
    """
    table = CsvTable(file=file_name)

    def fail(line: int | None, reason: str) -> CsvTable:
        table.issues.append(ImportIssue(file_name, line, reason))
        return table

    expected = ", ".join(columns)
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return fail(None, f"the file is empty: expected a header line ({expected}) and rows")
    if data.startswith(b"PK\x03\x04"):
        return fail(None, "this is a zip or Excel (.xlsx) file, not CSV: save it as CSV UTF-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return fail(None, "the file is UTF-16: export it as UTF-8")
    body = data.removeprefix(codecs.BOM_UTF8)  # a BOM is fine (Excel writes one)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        byte = body[exc.start]
        as_latin = bytes([byte]).decode("cp1252", "replace")
        return fail(
            line,
            f"the file is not UTF-8 (byte 0x{byte:02x} is {as_latin!r} "
            "in Windows-1252/Latin-1): export it as UTF-8, or convert it with "
            "`iconv -f WINDOWS-1252 -t UTF-8 old.csv > new.csv`",
        )
    if "\x00" in text:
        return fail(
            text.count("\n", 0, text.index("\x00")) + 1,
            "the file contains NUL characters: it is not a text CSV file",
        )

    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    header: list[str] | None = None
    header_line = 0
    previous_line = 0
    try:
        for record in reader:
            line, previous_line = previous_line + 1, reader.line_num
            if not record or not "".join(record).strip():
                continue
            if header is None:
                header, header_line = [name.strip() for name in record], line
                if not _header_ok(table, header, header_line, columns, optional):
                    return table
                continue
            if len(record) != len(header):
                hint = next(
                    (
                        f" (separated by {name}? expected commas)"
                        for delimiter, name in _DELIMITERS.items()
                        if len(record) < len(header) and delimiter in "".join(record)
                    ),
                    "",
                )
                table.issues.append(
                    ImportIssue(
                        file_name,
                        line,
                        f"{len(record)} values but the header has {len(header)} columns{hint}",
                    )
                )
                continue
            table.rows.append((line, dict(zip(header, map(str.strip, record), strict=True))))
    except csv.Error as exc:
        return fail(reader.line_num, f"unreadable CSV ({exc}): check the quoting on this line")
    if header is None:
        return fail(None, f"the file is empty: expected a header line ({expected}) and rows")
    if not table.rows and not table.issues:
        return fail(header_line, "the file has a header but no rows")
    return table


def _header_ok(
    table: CsvTable,
    header: list[str],
    line: int,
    columns: tuple[str, ...],
    optional: tuple[str, ...],
) -> bool:
    def fail(reason: str) -> bool:
        table.issues.append(ImportIssue(table.file, line, reason))
        return False

    expected = ", ".join(columns)
    if len(header) == 1:
        for delimiter, name in _DELIMITERS.items():
            if delimiter in header[0]:
                return fail(
                    f"the columns are separated by {name}, not commas: "
                    f"export with ',' as the separator (expected {expected})"
                )
    seen: set[str] = set()
    for name in header:
        if name in seen and name in columns + optional:
            return fail(f"column {name!r} appears twice in the header")
        seen.add(name)
    missing = [name for name in columns if name not in header]
    if missing and len(missing) == len(columns):
        return fail(
            f"no header line: the first line must name the columns {expected} "
            f"(found {', '.join(quoted(name, 30) for name in header)})"
        )
    if missing:
        near = {name.lower().replace("-", "_").replace(" ", "_"): name for name in header}
        hints = [f"{near[name]!r} should be written {name!r}" for name in missing if name in near]
        return fail(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f": the header must name {expected}"
        )
    table.columns = header
    table.ignored_columns = [name for name in header if name not in columns + optional]
    return True
