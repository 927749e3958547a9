"""Checks of each row of the old system's files, on its own (no database access).

Every bad value becomes an `ImportIssue` on the table, and checking goes on after a bad row;
`decide` adds the checks that need the database (plans, prices, Stripe ids already used,
users known).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from accounts.validators import validate_international_email
from migration.importing.parse import OLD_PLAN_CODES, CsvTable, quoted
from migration.importing.report import ImportIssue

MAX_COUNT = 2_147_483_647  # PositiveIntegerField
MAX_MINUTES = Decimal("999999999999.99")  # DecimalField(max_digits=14, decimal_places=2)
EARLIEST = date(2000, 1, 1)
STRIPE_ID_PATTERNS = {
    "stripe_customer_id": re.compile(r"cus_[A-Za-z0-9]{1,250}"),
    "stripe_subscription_id": re.compile(r"sub_[A-Za-z0-9]{1,250}"),
}
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WHOLE = re.compile(r"\+?\d+")
_UNIX_TIME = re.compile(r"\d{9,13}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CustomerRow:
    """A row of the customers file. When `valid` is False the row had errors of its own
    and its bad values are None: the import still checks the rest against the database (so
    that every error is listed at once) but never writes it."""

    line: int
    user_id: str | None
    email: str | None  # "" when empty: a customer already here keeps its e-mail
    plan: str | None  # as written, lower-cased
    plan_code: str | None  # the portal's code; None when `plan` names no old plan
    price_cents: int | None
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    created_at: datetime | None
    explicit_plan_code: bool = False  # from a `plan_code` column (the portal's export)
    valid: bool = True


@dataclass(frozen=True)
class UsageRow:
    """A row of the usage file; when `valid` is False only `user_id` may be set (the import
    still says whether the user is known) and the row is never written."""

    line: int
    user_id: str | None
    period: date | None = None
    total_sessions: int | None = None
    successful_sessions: int | None = None
    failed_sessions: int | None = None
    total_minutes: Decimal | None = None
    billable_minutes: Decimal | None = None
    valid: bool = True


class _Bad(Exception):
    """A value that cannot be used; the message is the reason shown to people."""


# --- values ---------------------------------------------------------------------------------


def _number(value: str, column: str) -> Decimal:
    """Any number, for diagnosing a value that is not a plain whole number."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _Bad(f"{column} is not a number: {quoted(value)}") from None
    if not number.is_finite():
        raise _Bad(f"{column} is not a number: {quoted(value)}")
    if number < 0:
        raise _Bad(f"{column} is negative ({value})")
    return number


def _count(value: str, column: str) -> int:
    if not value:
        raise _Bad(f"{column} is empty (write 0 for none)")
    if _WHOLE.fullmatch(value) is None:
        _number(value, column)
        raise _Bad(f"{column} must be a whole number, not {value}")
    number = int(value)
    if number > MAX_COUNT:
        raise _Bad(f"{column} is too large ({value})")
    return number


def _optional_count(value: str, column: str) -> int | None:
    return _count(value, column) if value else None


def _minutes(value: str, column: str) -> Decimal:
    if not value:
        raise _Bad(f"{column} is empty (write 0 for none)")
    # Minutes are kept to the hundredth; the old system stored floating-point minutes.
    minutes = _number(value, column).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if minutes > MAX_MINUTES:
        raise _Bad(f"{column} is too large ({value})")
    return minutes


def _optional_minutes(value: str, column: str) -> Decimal | None:
    return _minutes(value, column) if value else None


def _month(value: str, current: date) -> date:
    match = _MONTH.fullmatch(value)
    if match is None:
        raise _Bad(f"month must be written YYYY-MM (e.g. 2025-09), not {quoted(value)}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise _Bad(f"month {value} does not exist (months are 01 to 12)")
    if year < EARLIEST.year:  # year 0 included, which no date holds
        raise _Bad(f"month {value} is before {EARLIEST:%Y}: not a month of the old system")
    period = date(year, month, 1)
    if period < EARLIEST:
        raise _Bad(f"month {value} is before {EARLIEST:%Y}: not a month of the old system")
    if period > current:
        raise _Bad(f"month {value} is in the future (this month is {current:%Y-%m})")
    return period


def _created_at(value: str, now: datetime) -> datetime | None:
    if not value:
        return None
    if _UNIX_TIME.fullmatch(value):
        # Unix time, as SQLite/D1 often stores it: seconds, or milliseconds (13 digits).
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        if seconds > now.timestamp():  # past year 9999 too, which no date holds
            raise _Bad(f"created_at {value} is in the future")
        moment = datetime.fromtimestamp(seconds, UTC)
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _Bad(
                f"created_at {quoted(value)} is not a date: write ISO 8601 "
                "(2024-11-03 14:22:05, 2024-11-03T14:22:05Z) or Unix seconds"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the old system's times are UTC
    if moment > now:
        raise _Bad(f"created_at {value} is in the future")
    if moment.date() < EARLIEST:
        raise _Bad(f"created_at {value} is before {EARLIEST:%Y}: not a real sign-up date")
    return moment


def _user_id(user_id: str) -> str:
    if not user_id:
        raise _Bad("user_id is empty")
    if len(user_id) > 255:
        raise _Bad(f"user_id is longer than 255 characters: {quoted(user_id)}")
    if _CONTROL.search(user_id):
        raise _Bad(f"user_id contains control characters: {quoted(user_id)}")
    return user_id


def _email(email: str) -> str:
    if not email:
        return ""  # required for a new customer: the import service checks that
    if len(email) > 254:
        raise _Bad(f"email is longer than 254 characters: {quoted(email)}")
    try:
        validate_international_email(email)
    except ValidationError:
        raise _Bad(f"email {quoted(email)} is not an e-mail address") from None
    return email


def _stripe_id(value: str, column: str) -> str:
    if value and STRIPE_ID_PATTERNS[column].fullmatch(value) is None:
        prefix = STRIPE_ID_PATTERNS[column].pattern[:4]
        raise _Bad(f"{column} {quoted(value)} is not a Stripe id ({prefix}…)")
    return value


def _price(value: str) -> int | None:
    if not value:
        return None
    if _WHOLE.fullmatch(value) is None:
        _number(value, "price_cents")
        raise _Bad(f"price_cents must be whole cents (900 for $9.00), not {value}")
    if int(value) > MAX_COUNT:
        raise _Bad(f"price_cents is too large ({value})")
    return int(value)


def _plan(value: str) -> str:
    plan = value.lower()
    if not plan:
        raise _Bad(f"plan is empty (old plans: {', '.join(OLD_PLAN_CODES)})")
    return plan


class _RowCheck:
    """Checks the columns of one row, keeping every reason it is bad on the table."""

    __slots__ = ("bad", "line", "table")

    def __init__(self, table: CsvTable, line: int) -> None:
        self.table, self.line, self.bad = table, line, False

    def __call__(self, column: str, check, *args):
        try:
            return check(*args)
        except _Bad as exc:
            self.table.issues.append(ImportIssue(self.table.file, self.line, str(exc), column))
            self.bad = True
            return None

    def reject(self, reason: str, column: str = "") -> None:
        self.table.issues.append(ImportIssue(self.table.file, self.line, reason, column))
        self.bad = True


def customer_rows_check(table: CsvTable, *, now: datetime) -> list[CustomerRow]:
    """Every row of a customers file, checked on its own (`valid`); issues go on `table`.

    Also refuses the same user, or the same Stripe customer or subscription, twice.
    """
    rows: list[CustomerRow] = []
    first_line: dict[tuple[str, str], tuple[int, str]] = {}
    for line, values in table.rows:
        check = _RowCheck(table, line)
        user_id = check("user_id", _user_id, values["user_id"])
        email = check("email", _email, values["email"])
        plan = check("plan", _plan, values["plan"])
        price = check("price_cents", _price, values["price_cents"])
        customer_id = check(
            "stripe_customer_id", _stripe_id, values["stripe_customer_id"], "stripe_customer_id"
        )
        subscription_id = check(
            "stripe_subscription_id",
            _stripe_id,
            values["stripe_subscription_id"],
            "stripe_subscription_id",
        )
        created_at = check("created_at", _created_at, values["created_at"], now)
        for column in ("user_id", "stripe_customer_id", "stripe_subscription_id"):
            value = values[column]
            if not value:
                continue
            earlier = first_line.setdefault((column, value), (line, values["user_id"]))
            if earlier[0] == line:
                continue
            if column == "user_id":
                check.reject(f"user_id {quoted(value)} is already on line {earlier[0]}", column)
            elif earlier[1] != values["user_id"]:
                check.reject(
                    f"{column} {value} is also on line {earlier[0]} (user {quoted(earlier[1])}): "
                    "a Stripe id belongs to one customer",
                    column,
                )
        plan_code_given = values.get("plan_code", "")
        rows.append(
            CustomerRow(
                line=line,
                user_id=user_id,
                email=email,
                plan=plan,
                plan_code=plan_code_given or OLD_PLAN_CODES.get(plan or ""),
                price_cents=price,
                stripe_customer_id=customer_id,
                stripe_subscription_id=subscription_id,
                created_at=created_at,
                explicit_plan_code=bool(plan_code_given),
                valid=not check.bad,
            )
        )
    return rows


def usage_rows_check(table: CsvTable, *, current_month: date) -> list[UsageRow]:
    """Every row of a usage file, checked on its own (`valid`); issues go on `table`.

    `failed_sessions` is what the old system counted but not as successful, and
    `billable_minutes` is every minute used (the old minute quota counted them all), unless
    the file gives these columns (the portal's own export does).
    """
    rows: list[UsageRow] = []
    first_line: dict[tuple[str, date], int] = {}
    for line, values in table.rows:
        check = _RowCheck(table, line)
        user_id = check("user_id", _user_id, values["user_id"])
        period = check("month", _month, values["month"], current_month)
        minutes = check(
            "total_minutes_used", _minutes, values["total_minutes_used"], "total_minutes_used"
        )
        total = check("total_sessions", _count, values["total_sessions"], "total_sessions")
        successful = check(
            "successful_sessions", _count, values["successful_sessions"], "successful_sessions"
        )
        failed = check(
            "failed_sessions", _optional_count, values.get("failed_sessions"), "failed_sessions"
        )
        billable = check(
            "billable_minutes",
            _optional_minutes,
            values.get("billable_minutes"),
            "billable_minutes",
        )
        if check.bad:
            rows.append(UsageRow(line=line, user_id=user_id, valid=False))
            continue
        if successful > total:
            check.reject(
                f"successful_sessions ({successful}) is more than total_sessions ({total})"
            )
        elif failed is not None and failed > total - successful:
            check.reject(
                f"failed_sessions ({failed}) is more than total_sessions minus "
                f"successful_sessions ({total - successful})"
            )
        if billable is not None and billable > minutes:
            check.reject(
                f"billable_minutes ({billable}) is more than total_minutes_used ({minutes})"
            )
        earlier = first_line.setdefault((user_id, period), line)
        if earlier != line:
            check.reject(
                f"user_id {quoted(user_id)} already has a row for {period:%Y-%m} on line {earlier}"
            )
        if check.bad:
            rows.append(UsageRow(line=line, user_id=user_id, valid=False))
            continue
        rows.append(
            UsageRow(
                line=line,
                user_id=user_id,
                period=period,
                total_sessions=total,
                successful_sessions=successful,
                failed_sessions=total - successful if failed is None else failed,
                total_minutes=minutes,
                billable_minutes=minutes if billable is None else billable,
            )
        )
    return rows
