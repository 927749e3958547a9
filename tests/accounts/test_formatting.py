"""`accounts.formatting.money`: integer cents with a currency, formatted for people."""

import pytest

from accounts.formatting import money


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
