"""`accounts.formatting`: money from integer cents, counts and dates, formatted for people."""

from datetime import UTC, date, datetime

import pytest
from django.utils import formats

from accounts.formatting import count, day, moment, money


@pytest.mark.parametrize(
    ("cents", "currency", "short", "expected"),
    [
        (2900, "usd", False, "$29.00"),
        (2900, "usd", True, "$29"),
        (1950, "usd", True, "$19.50"),
        (-500, "usd", False, "-$5.00"),
        (2900, "chf", False, "29.00 CHF"),
        (None, "usd", False, ""),
    ],
)
def test_money(cents, currency, short, expected):
    assert money(cents, currency, short=short) == expected


def test_dates_read_one_way_for_people():
    moment_at = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
    assert day(moment_at) == "3 Dec 2026"
    assert day(date(2026, 12, 3)) == "3 Dec 2026"
    assert moment(moment_at) == "3 Dec 2026, 14:05"
    assert day(None) == moment(None) == "-"
    # Django's own formatting (the admin's date columns) says it the same way.
    assert formats.date_format(moment_at, "DATETIME_FORMAT") == "3 Dec 2026, 14:05"
    assert formats.date_format(moment_at.date()) == "3 Dec 2026"


def test_counts_have_thousands_separators():
    assert count(5000) == "5,000" and count(None) == ""
