"""What an e-mail's templates show, kept in its outbox row so that a worker renders it later.

A context is encoded as JSON: model instances become references (`{"$model": "accounts.plan",
"pk": 3}`, read back from the database when the e-mail is sent, so it shows the plan's name as
it is then), dates and decimals are tagged, everything else must already be JSON. Decoding many
contexts at once fetches each referenced model with one query per model.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models

MODEL, DATETIME, DATE, DECIMAL = "$model", "$datetime", "$date", "$decimal"


def context_encode(value: Any) -> Any:
    """`value` with model instances, dates and decimals made JSON (recursively)."""
    if isinstance(value, models.Model):
        return {MODEL: value._meta.label_lower, "pk": value.pk}
    if isinstance(value, datetime):
        return {DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {DATE: value.isoformat()}
    if isinstance(value, Decimal):
        return {DECIMAL: str(value)}
    if isinstance(value, dict):
        return {str(key): context_encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [context_encode(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"E-mail context value {value!r} cannot be stored: pass plain values.")


def _references(value: Any, found: dict[str, set]) -> None:
    if isinstance(value, dict):
        if MODEL in value:
            found.setdefault(value[MODEL], set()).add(value["pk"])
            return
        for item in value.values():
            _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)


def contexts_decode(encoded: list[dict]) -> list[dict]:
    """Decode many contexts, fetching the referenced rows with one query per model."""
    found: dict[str, set] = {}
    for context in encoded:
        _references(context, found)
    instances: dict[tuple[str, Any], models.Model] = {}
    for label, pks in found.items():
        model = apps.get_model(label)
        for instance in model._default_manager.filter(pk__in=pks):
            instances[(label, instance.pk)] = instance
    return [_decode(context, instances) for context in encoded]


def _decode(value: Any, instances: dict) -> Any:
    if isinstance(value, dict):
        if MODEL in value:
            return instances.get((value[MODEL], value["pk"]))
        if DATETIME in value:
            return datetime.fromisoformat(value[DATETIME])
        if DATE in value:
            return date.fromisoformat(value[DATE])
        if DECIMAL in value:
            return Decimal(value[DECIMAL])
        return {key: _decode(item, instances) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, instances) for item in value]
    return value
