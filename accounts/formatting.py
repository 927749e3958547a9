"""The one place figures are formatted for people: money from integer cents, counts and dates.

Money is stored as integer cents with a currency code and formatted only at the edge.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def money(cents: int | None, currency: str = "usd", *, short: bool = False) -> str:
    """2900 → "$29.00"; with `short`, whole amounts drop the cents ("$29", "$19.50").

    Negative amounts keep their sign in front ("-$5.00"); unknown currencies are written
    after the amount ("29.00 CHF"). None → "".
    """
    if cents is None or cents == "":
        return ""
    cents = int(cents)
    whole, rest = divmod(abs(cents), 100)
    amount = f"{whole:,}" if short and not rest else f"{whole:,}.{rest:02d}"
    sign = "-" if cents < 0 else ""
    symbol = SYMBOLS.get(currency.lower())
    if symbol is None:
        return f"{sign}{amount} {currency.upper()}"
    return f"{sign}{symbol}{amount}"


def count(value: int | None) -> str:
    """5000 → "5,000"."""
    return "" if value is None else f"{int(value):,}"


def day(value: date | datetime | None) -> str:
    """A date, or a moment's date in UTC: "3 Dec 2026". None → "-"."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{value.day} {value:%b %Y}"


def moment(value: datetime | None) -> str:
    """A moment in UTC: "3 Dec 2026, 14:05" (the admin's DATETIME_FORMAT). None → "-"."""
    if value is None:
        return "-"
    value = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{day(value)}, {value:%H:%M}"


def shortened(text: str | None, limit: int = 60) -> str:
    """The start of a long text for a list column: at most `limit` characters, "…" when cut."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
