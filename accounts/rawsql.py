"""Small helpers for the hot paths that use raw SQL (session start, usage read, key lookup).

The ORM compiles each query in Python (~0.3-0.7 ms); on the paths the proxy and dashboard
call thousands of times a second we send plain SQL that runs the same on PostgreSQL and
SQLite, and convert values here the way the ORM would.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection

CENTS = Decimal("0.01")


def param_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def param_date(value: date):
    return connection.ops.adapt_datefield_value(value)


def aware(value) -> datetime | None:
    """A datetime column read by a raw cursor: aware UTC on both databases."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def decimal(value) -> Decimal:
    """A decimal(…, 2) column read by a raw cursor (SQLite hands back floats or ints)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(CENTS)


def fetch_one(sql: str, params) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
