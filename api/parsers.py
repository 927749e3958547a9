"""The API's JSON parser: DRF's, refusing with a 400 `parse_error` what would otherwise crash
further in (kept apart from `api.errors`: DRF reads this setting while its views load)."""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A NUL, or a surrogate half that no UTF-8 text may contain on its own.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 32


def unstorable(text: str) -> bool:
    """Whether `text` holds a character no database text column accepts."""
    return _UNSTORABLE.search(text) is not None


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ParseError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        if unstorable(value):
            raise ParseError(
                "The JSON holds a NUL character or an unpaired surrogate (\\ud800-\\udfff), "
                "which no field accepts."
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400 `parse_error`) what would otherwise crash further in:
    nesting that exhausts Python's recursion, NUL characters and unpaired surrogates."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("The JSON is nested too deeply to read.") from None
        _check(data)
        return data
