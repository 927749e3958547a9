"""The one place figures are formatted for people: money from integer cents, and counts.

Money is stored as integer cents with a currency code and formatted only at the edge.
"""

from __future__ import annotations

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
