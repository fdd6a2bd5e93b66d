"""Set-based, change-skipping upserts keyed on Parsec ids, shared by every sync.

One batch costs one SELECT of the rows that already exist; new rows are inserted with
``bulk_create(ignore_conflicts=True)`` and changed rows updated with ``bulk_update``; rows
whose typed fields (and raw payload) are unchanged are not written at all, so a sync that
finds nothing new writes nothing.

Two workers may upsert the same rows at once, and a task may be redelivered after a worker
died halfway. So:
- an insert that loses the race to another worker (the conflict is ignored) is re-read and
  merged like any existing row, never duplicated;
- changed rows are re-read under a row lock (``SELECT ... FOR UPDATE``; SQLite transactions
  are IMMEDIATE in this project) and merged again before the write, so a rule such as "order
  status only moves forward" holds even when an older read lands after a newer one.

A row the database refuses (it breaks a CHECK or NOT NULL constraint: a position of size -5, an
order filled beyond its size) is skipped and returned in ``UpsertResult.rejected`` with the
database's reason, and the rest of the batch is written; the same on both engines. (SQLite's
``INSERT OR IGNORE`` skips such a row without a word and PostgreSQL refuses the whole statement,
so a refused statement is retried in halves inside savepoints until only the bad rows are left.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import DataError, IntegrityError, connection, models, transaction

Merge = Callable[[dict[str, Any] | None, dict[str, Any]], dict[str, Any]]

BATCH_SIZE = 1000


# What a database raises for a row it will not store (a constraint, a value out of range).
REFUSED = (IntegrityError, DataError)


@dataclass(frozen=True)
class RejectedRow:
    """A row the database refused: skipped, with its key, the database's reason and the row."""

    model: str
    key: tuple
    error: str
    row: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return "/".join(str(part) for part in self.key)

    @property
    def payload(self) -> Any:
        """What Parsec sent for this row (its raw payload), else the row's own values as text."""
        if "raw" in self.row:
            return self.row["raw"]
        return {name: value if isinstance(value, str | int | bool | None) else str(value) for name, value in self.row.items()}


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    keys_written: list = field(default_factory=list, repr=False)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.keys_written.extend(other.keys_written)
        self.rejected.extend(other.rejected)
        return self


def take_incoming(current: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    return incoming


@dataclass(frozen=True)
class UpsertSpec:
    """How rows of one model are matched and compared.

    ``key``: attnames of a unique constraint (the Parsec id). ``fields``: attnames compared and
    written when they change. ``touch``: written with every change but never compared
    (``last_seen_at``). ``create_only``: set when the row is created, never changed by sync.
    ``merge(current, incoming)`` returns the values to store from the stored ones (None for a
    new row), so a rule (forward-only status) lives in one place. ``compare``: for records
    that never change at the source once written (a fill is a past event), the few fields that
    can still change here (links filled in later); only they are read back and compared, so an
    unchanged batch reads neither the raw payload nor the other columns. None: all ``fields``.
    """

    model: type[models.Model]
    key: tuple[str, ...]
    fields: tuple[str, ...]
    touch: tuple[str, ...] = ()
    create_only: tuple[str, ...] = ()
    merge: Merge = take_incoming
    compare: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.compare is not None and (self.merge is not take_incoming or not set(self.compare) <= set(self.fields)):
            raise ValueError("compare: a subset of fields, with no merge rule")

    @property
    def compared(self) -> tuple[str, ...]:
        return self.fields if self.compare is None else self.compare

    def key_of(self, values: dict[str, Any]) -> tuple:
        return tuple(values[name] for name in self.key)


def upsert(spec: UpsertSpec, rows: Iterable[dict[str, Any]], *, batch_size: int = BATCH_SIZE) -> UpsertResult:
    """Write ``rows`` (dicts of attnames → values) so the table matches them; see the module doc."""
    result = UpsertResult()
    batch: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        batch[spec.key_of(row)] = row  # a later read of the same key in one call wins
        if len(batch) >= batch_size:
            result += _upsert_batch(spec, batch)
            batch = {}
    if batch:
        result += _upsert_batch(spec, batch)
    return result


@models.Field.register_lookup
class AnyOf(models.Lookup):
    """``field = ANY(%s)`` with the values as one array parameter (PostgreSQL): the statement
    stays the same whatever the batch size, so neither psycopg nor the server parses a
    thousand placeholders per batch as ``__in`` makes them."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        field = self.lhs.output_field
        return "%s", [[field.get_db_prep_value(v, connection, prepared=False) for v in value]]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def _select_existing(spec: UpsertSpec, keys: Sequence[tuple], *, lock: bool = False) -> dict[tuple, dict[str, Any]]:
    manager = spec.model._default_manager
    queryset = manager.select_for_update() if lock else manager.all()
    postgresql = connection.vendor == "postgresql"
    for position, name in enumerate(spec.key):
        # Relations keep __in: Django allows only its own related lookups on a foreign key.
        lookup = "any_of" if postgresql and not spec.model._meta.get_field(name).is_relation else "in"
        queryset = queryset.filter(**{f"{name}__{lookup}": list({key[position] for key in keys})})
    wanted = set(keys)
    columns = ("pk", *spec.key, *(spec.fields if lock else spec.compared))
    found = {}
    for values in queryset.order_by("pk").values(*columns):
        key = spec.key_of(values)
        if key in wanted:
            found[key] = values
    return found


def _changes(spec: UpsertSpec, current: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any] | None:
    compared = spec.compared
    merged = spec.merge({name: current[name] for name in compared}, incoming)
    changed = {name: merged[name] for name in compared if name in merged and merged[name] != current[name]}
    return changed or None


def _reject(spec: UpsertSpec, key: tuple, row: dict[str, Any], exc: Exception) -> RejectedRow:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return RejectedRow(model=spec.model._meta.label, key=key, error=reason, row=row)


def _refused_alone(write: Callable[[list], None], items: list) -> list[tuple[Any, Exception]]:
    """Run ``write(items)`` in a savepoint; when the database refuses it, retry in halves, so that
    only the items it refuses on their own are left out (and returned with the error)."""
    try:
        with transaction.atomic():
            write(items)
        return []
    except REFUSED as exc:
        if len(items) == 1:
            return [(items[0], exc)]
    middle = len(items) // 2
    return _refused_alone(write, items[:middle]) + _refused_alone(write, items[middle:])


def _upsert_batch(spec: UpsertSpec, batch: dict[tuple, dict[str, Any]]) -> UpsertResult:
    result = UpsertResult()
    existing = _select_existing(spec, list(batch))
    new_keys = [key for key in batch if key not in existing]
    changed_keys = [key for key, current in existing.items() if _changes(spec, current, batch[key])]
    result.unchanged += len(existing) - len(changed_keys)

    if new_keys:
        if spec.merge is take_incoming:
            rows = {key: batch[key] for key in new_keys}
        else:
            rows = {key: {**batch[key], **spec.merge(None, batch[key])} for key in new_keys}
        inserted, rejected = _insert_new(spec, rows)
        refused = {bad.key for bad in rejected}
        # Rows another worker inserted first were skipped: read them back and merge them.
        missed = [key for key in new_keys if key not in refused and (inserted is None or key not in inserted)]
        raced = _select_existing(spec, missed) if missed else {}
        # Neither inserted nor there: SQLite's INSERT OR IGNORE skipped a row that breaks a
        # constraint. A plain INSERT of it makes the database say why.
        dropped = [key for key in missed if key not in raced]
        if dropped:
            rejected += _insert_plain(spec, {key: rows[key] for key in dropped})
            refused = {bad.key for bad in rejected}
        lost = {key: values for key, values in raced.items() if _changes(spec, values, batch[key])}
        result.created += len(new_keys) - len(lost) - len(refused)
        result.keys_written.extend(key for key in new_keys if key not in lost and key not in refused)
        result.rejected.extend(rejected)
        changed_keys.extend(lost)

    if changed_keys:
        result += _update_locked(spec, {key: batch[key] for key in changed_keys})
    return result


def _update_locked(spec: UpsertSpec, batch: dict[tuple, dict[str, Any]]) -> UpsertResult:
    result = UpsertResult()
    with transaction.atomic():
        locked = _select_existing(spec, list(batch), lock=True)
        objs = []
        for key, current in locked.items():
            changes = _changes(spec, current, batch[key])
            if not changes:
                result.unchanged += 1
                continue
            obj = spec.model(pk=current["pk"])
            for name in spec.fields:
                setattr(obj, name, changes.get(name, current[name]))
            for name in spec.touch:
                setattr(obj, name, batch[key][name])
            objs.append((key, obj))
        fields = [*spec.fields, *spec.touch]
        refused = _refused_alone(lambda part: spec.model._default_manager.bulk_update([obj for _, obj in part], fields), objs) if objs else []
        refused_keys = {key for (key, _), _ in refused}
        result.rejected.extend(_reject(spec, key, batch[key], exc) for (key, _), exc in refused)
        result.keys_written.extend(key for key, _ in objs if key not in refused_keys)
        result.updated += len(objs) - len(refused)
    return result


def _new_objects(spec: UpsertSpec, rows: dict[tuple, dict[str, Any]]) -> list[tuple[tuple, models.Model]]:
    names = (*spec.key, *spec.fields, *spec.touch, *spec.create_only)
    return [(key, spec.model(**{name: row[name] for name in names if name in row})) for key, row in rows.items()]


def _insert_plain(spec: UpsertSpec, rows: dict[tuple, dict[str, Any]]) -> list[RejectedRow]:
    """A plain INSERT of each row the database skipped: the ones it refuses, with its reason."""
    refused = _refused_alone(lambda part: spec.model._default_manager.bulk_create([obj for _, obj in part]), _new_objects(spec, rows))
    return [_reject(spec, key, rows[key], exc) for (key, _), exc in refused]


def _insert_new(spec: UpsertSpec, rows: dict[tuple, dict[str, Any]]) -> tuple[set[tuple] | None, list[RejectedRow]]:
    """INSERT ... ON CONFLICT DO NOTHING; returns the keys actually inserted when the database
    says (PostgreSQL), None when it does not (then every key is re-read), and the rows it refused.

    On PostgreSQL the rows travel by COPY into a temporary table first (one round trip, no
    20,000-parameter statement to parse), as plain tuples converted once per column: no model
    instance per row. Elsewhere, ``bulk_create(ignore_conflicts=True)``."""
    if connection.vendor == "postgresql" and len(rows) >= 50:
        with contextlib.suppress(*REFUSED):  # a row breaks a constraint: found one statement at a time below
            return _copy_new(spec, list(rows.values())), []
    manager = spec.model._default_manager
    objs = _new_objects(spec, rows)
    if connection.vendor != "postgresql":
        manager.bulk_create([obj for _, obj in objs], ignore_conflicts=True)  # see _upsert_batch for the rows it skips
        return None, []
    refused = _refused_alone(lambda part: manager.bulk_create([obj for _, obj in part], ignore_conflicts=True), objs)
    return None, [_reject(spec, key, rows[key], exc) for (key, _), exc in refused]


def _copy_new(spec: UpsertSpec, rows: list[dict[str, Any]]) -> set[tuple]:
    """COPY the rows in; the keys inserted. Raises when the database refuses a row."""
    model = spec.model
    names = (*spec.key, *spec.fields, *spec.touch, *spec.create_only)
    columns = _copy_columns(model)
    writers = [_column_writer(field, name in names) for field, name in columns]
    table = connection.ops.quote_name(model._meta.db_table)
    column_list = ", ".join(connection.ops.quote_name(field.column) for field, _ in columns)
    key_list = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in spec.key)
    # The rows were new when we looked: COPY them straight in (the server indexes them while
    # they stream). If another worker inserted one of them since, the unique index refuses the
    # COPY; then they go through a staging table and INSERT ... ON CONFLICT DO NOTHING.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy(cursor, f"COPY {table} ({column_list}) FROM STDIN", ([writer(row) for writer in writers] for row in rows))
        return {spec.key_of(row) for row in rows}
    except IntegrityError:
        pass  # a race (or a bad row, which the INSERT below refuses too)
    stage = connection.ops.quote_name(f"stage_{model._meta.db_table}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {column_list} FROM {table} WITH NO DATA")  # noqa: S608 (quoted identifiers, no input)
        cursor.execute(f"TRUNCATE {stage}")
        _copy(cursor, f"COPY {stage} ({column_list}) FROM STDIN", ([writer(row) for writer in writers] for row in rows))
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING RETURNING {key_list}"  # noqa: S608 (quoted identifiers, no input)
        )
        inserted = {tuple(found) for found in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {stage}")
    return inserted


def _copy(cursor, statement: str, values: Iterable[list[Any]]) -> None:
    with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:  # psycopg's errors as Django's
        write = copy.write_row
        for row in values:
            write(row)


def _copy_columns(model: type[models.Model]) -> list[tuple[models.Field, str]]:
    """Every column, as bulk_create would send it: model defaults are not database defaults."""
    return [(f, f.attname) for f in model._meta.concrete_fields if not f.primary_key]


# Python types PostgreSQL (through psycopg) takes as they are, per Django field type: for these
# ``get_db_prep_save`` returns the value unchanged on PostgreSQL. Anything else goes through it.
_PASSTHROUGH = {
    "CharField": (str,), "TextField": (str,), "SlugField": (str,), "EmailField": (str,), "URLField": (str,),
    "BooleanField": (bool,), "DecimalField": (Decimal,), "UUIDField": (uuid.UUID,),
    "IntegerField": (int,), "BigIntegerField": (int,), "SmallIntegerField": (int,), "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,), "PositiveBigIntegerField": (int,), "AutoField": (int,), "BigAutoField": (int,),
    "FloatField": (float,),
}


def _column_writer(field: models.Field, given: bool) -> Callable[[dict[str, Any]], Any]:
    """row dict → the value COPY sends for ``field`` (the model default when the row lacks it)."""
    name = field.attname
    prep = field.get_db_prep_save
    if not given:
        return lambda row: prep(row[name] if name in row else field.get_default(), connection)
    target = field.target_field if field.is_relation else field
    internal = target.get_internal_type()
    if isinstance(field, models.JSONField):
        dumps = json.dumps if field.encoder is None else functools.partial(json.dumps, cls=field.encoder)

        def write_json(row: dict[str, Any]) -> Any:
            value = row[name] if name in row else field.get_default()
            return None if value is None else dumps(value)

        return write_json
    if internal == "DateTimeField":

        def write_datetime(row: dict[str, Any]) -> Any:
            value = row[name] if name in row else field.get_default()
            if value is None or (type(value) is datetime and value.tzinfo is not None):
                return value
            return prep(value, connection)  # naive or not a datetime: Django's warning and conversion

        return write_datetime
    fast = _PASSTHROUGH.get(internal)
    if fast is None:
        return lambda row: prep(row[name] if name in row else field.get_default(), connection)

    def write(row: dict[str, Any]) -> Any:
        value = row[name] if name in row else field.get_default()
        if value is None or type(value) in fast:
            return value
        return prep(value, connection)

    return write
