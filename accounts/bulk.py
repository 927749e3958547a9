"""Reading and writing many rows at once, for imports of 100,000 customers and more.

PostgreSQL gets `= ANY(array)` lookups and `COPY` (an upsert goes through a staging table and
`INSERT … SELECT … ON CONFLICT … DO UPDATE`); SQLite gets chunked `IN (…)` lookups and
multi-row `INSERT … ON CONFLICT … DO UPDATE`. Both behave the same: callers pass model field
names and rows of Python values, and get Python values back (aware datetimes, dates,
Decimals, bools), whatever the database.

Unlike bulk_create, values are written exactly as given: an imported customer keeps its
`created_at` from the old system, where bulk_create would stamp `auto_now_add`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from itertools import islice

from django.db import connection, models

from accounts.rawsql import aware, decimal

SQLITE_CHUNK = 900  # SQLite allows 999 parameters per statement (as Django assumes)
ANY_CHUNK = 50_000
INSERT_CHUNK = 5_000


def chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _fields(model: type[models.Model], names: Sequence[str]) -> list[models.Field]:
    return [model._meta.get_field(name) for name in names]


def _reader(field: models.Field) -> Callable:
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return aware
    if kind == "DateField":
        return lambda value: date.fromisoformat(value) if isinstance(value, str) else value
    if kind == "DecimalField":
        return lambda value: None if value is None else decimal(value)
    if kind == "BooleanField":
        return lambda value: None if value is None else bool(value)
    if kind == "JSONField":
        return lambda value: json.loads(value) if isinstance(value, str) else value
    return None


def row_factory(model: type[models.Model]) -> tuple[list[str], Callable[[dict], tuple]]:
    """Column names (every concrete field but the id) and a maker of rows from dicts.

    A value missing from the dict is the field's default, as Model() would set it, so that
    a field added to the model later does not break the bulk writes.
    """
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    names = [field.attname for field in fields]
    defaults = {field.attname: field.get_default() for field in fields}

    def make(values: dict) -> tuple:
        return tuple(values[name] if name in values else defaults[name] for name in names)

    return names, make


def select_in(
    model: type[models.Model],
    names: Sequence[str],
    *,
    key: str,
    values: Iterable,
    where: str = "",
    params: Sequence = (),
    distinct: bool = False,
    lock: bool = False,
) -> Iterator[tuple]:
    """Rows (`names` columns) of `model` whose `key` is one of `values`, plus `where`.

    `lock` takes the rows FOR UPDATE (PostgreSQL; SQLite serialises writers anyway), in
    primary-key order so that two lockers cannot deadlock.
    """
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    key_column = quote(model._meta.get_field(key).column)
    # Only quoted names from the model's meta are formatted in; values are parameters.
    table = quote(model._meta.db_table)
    head = f"SELECT {'DISTINCT ' if distinct else ''}{columns} FROM {table}"  # noqa: S608
    tail = (f" AND {where}" if where else "") + (
        f" ORDER BY {quote(model._meta.pk.column)} FOR UPDATE" if lock and _postgres() else ""
    )
    readers = [(index, _reader(field)) for index, field in enumerate(fields) if _reader(field)]
    values = list(values)
    with connection.cursor() as cursor:
        if _postgres():
            batches = (
                (f"{head} WHERE {key_column} = ANY(%s){tail}", [chunk, *params])
                for chunk in chunks(values, ANY_CHUNK)
            )
        else:
            batches = (
                (
                    f"{head} WHERE {key_column} IN ({', '.join(['%s'] * len(chunk))}){tail}",
                    [*chunk, *params],
                )
                for chunk in chunks(values, SQLITE_CHUNK - len(params))
            )
        for sql, batch_params in batches:
            cursor.execute(sql, batch_params)
            for row in cursor.fetchall():
                if readers:
                    row = list(row)
                    for index, read in readers:
                        row[index] = read(row[index])
                yield tuple(row)


def insert(
    model: type[models.Model],
    names: Sequence[str],
    rows: Sequence[Sequence],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    on_batch: Callable[[int], None] = lambda count: None,
) -> None:
    """Insert `rows` (values in `names` order); with `update`, an upsert on `conflict`.

    Without `update`, a row that already exists raises IntegrityError (nothing is skipped).
    """
    if not rows:
        return
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    upsert = ""
    if update:
        targets = ", ".join(quote(column.column) for column in _fields(model, conflict))
        assignments = ", ".join(
            f"{quote(field.column)} = EXCLUDED.{quote(field.column)}"
            for field in _fields(model, update)
        )
        upsert = f" ON CONFLICT ({targets}) DO UPDATE SET {assignments}"
    if _postgres():
        _copy(table, columns, fields, rows, upsert=upsert, on_batch=on_batch)
    else:
        _insert_values(table, columns, fields, rows, upsert=upsert, on_batch=on_batch)


def _copy(table, columns, fields, rows, *, upsert: str, on_batch) -> None:
    json_columns = [
        index for index, field in enumerate(fields) if field.get_internal_type() == "JSONField"
    ]
    target = table
    with connection.cursor() as cursor:
        if upsert:
            # COPY cannot resolve conflicts: stage the rows, then upsert them in one statement.
            # Named in pg_temp explicitly, so that no table of the schema can ever be hit.
            target = "pg_temp.bulk_staging"
            cursor.execute(f"DROP TABLE IF EXISTS {target}")
            cursor.execute(
                f"CREATE TEMP TABLE {target} AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608
            )
        raw = cursor.cursor  # psycopg's cursor: COPY is not part of the DB-API
        for chunk in chunks(rows, INSERT_CHUNK):
            # Django's error classes (IntegrityError…), as for any other query.
            with (
                connection.wrap_database_errors,
                raw.copy(f"COPY {target} ({columns}) FROM STDIN") as copy,
            ):
                for row in chunk:
                    if json_columns:
                        row = list(row)
                        for index in json_columns:
                            row[index] = json.dumps(row[index])
                    copy.write_row(row)
            on_batch(len(chunk))
        if upsert:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target}{upsert}"  # noqa: S608
            )
            cursor.execute(f"DROP TABLE {target}")


def _insert_values(table, columns, fields, rows, *, upsert: str, on_batch) -> None:
    size = max(1, SQLITE_CHUNK // len(fields)) if not _postgres() else INSERT_CHUNK
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        for chunk in chunks(rows, size):
            params = [
                field.get_db_prep_save(value, connection)
                for row in chunk
                for field, value in zip(fields, row, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
                + ", ".join([row_sql] * len(chunk))
                + upsert,
                params,
            )
            on_batch(len(chunk))


def insert_returning_ids(
    model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence]
) -> list[int]:
    """`insert` that hands back the new primary keys, in the order of `rows`.

    PostgreSQL: the ids are drawn from the table's sequence first, then COPY writes them with
    the rows (bulk_create would quote every value in Python: several times slower for audit
    rows with JSON). Elsewhere: bulk_create, which returns the ids. No signals, no defaults:
    give every column without a database default (auto_now fields included).
    """
    if not rows:
        return []
    if not _postgres():
        objs = [model(**dict(zip(names, row, strict=True))) for row in rows]
        return [obj.pk for obj in model.objects.bulk_create(objs, batch_size=SQLITE_CHUNK)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    insert(
        model,
        [model._meta.pk.name, *names],
        [(pk, *row) for pk, row in zip(ids, rows, strict=True)],
    )
    return ids


def update_by_id(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence]) -> int:
    """PostgreSQL: set `names` of many rows, each row being (id, *values): one COPY into a
    staging table and one `UPDATE … FROM`. Returns the number of rows updated."""
    if not rows:
        return 0
    if not _postgres():
        raise NotImplementedError("update_by_id is the PostgreSQL path")
    fields = [model._meta.pk, *_fields(model, names)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    pk = quote(model._meta.pk.column)
    assignments = ", ".join(f"{quote(f.column)} = s.{quote(f.column)}" for f in fields[1:])
    staging = "pg_temp.bulk_update_staging"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(
            f"CREATE TEMP TABLE {staging} AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM {staging} AS s WHERE t.{pk} = s.{pk}"  # noqa: S608
        )
        updated = cursor.rowcount
        cursor.execute(f"DROP TABLE {staging}")
    return updated
