"""Hand-written SQL for the order-placement hot path, with the ORM's own value conversions.

Building a query through the ORM costs 0.2-0.5 ms of Python per statement (query construction and
compilation), ten times what SQLite needs to run it, and order placement issues a dozen. Here the
SQL text of each statement is built once; values still go through the fields' own
``get_db_prep_value`` and rows through the backend's and fields' converters, the same code the
ORM runs, so rows read or written here are identical to the ORM's on SQLite and PostgreSQL.
The database stays the only state: nothing here caches a row.

Statements go straight to the DB-API connection under Django's (so inside its transactions), with
Django's error translation but without its per-statement cursor wrapper; on SQLite the ``%s``
placeholders are rewritten to ``?`` once per statement text, as Django's SQLite cursor does.

``Loader(Model, fields)`` reads rows into model instances (``Model.from_db``, as a queryset does);
``insert(obj)`` writes one instance (its pk is set); ``execute``/``fetch`` run a statement.
Statements use ``%s`` placeholders (Django converts them for SQLite) and ``{t}``-style names
filled from the models' ``db_table`` and ``column`` (``Loader.table``, ``Loader.col``).
"""

# Statements are built from model metadata (table and column names) only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import threading

from django.db import connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

DB = "sandbox"
_local = threading.local()
_qmark: dict[str, str] = {}


def connection():
    """This thread's Django connection to the sandbox database (Django keeps one per thread)."""
    wrapper = getattr(_local, "wrapper", None)
    if wrapper is None:
        wrapper = _local.wrapper = connections[DB]
    return wrapper


def _cursor(sql: str, params):
    wrapper = connection()
    if wrapper.connection is None:
        wrapper.ensure_connection()
    if wrapper.vendor == "sqlite":
        text = _qmark.get(sql)
        if text is None:
            text = _qmark[sql] = FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")
        sql = text
    with wrapper.wrap_database_errors:
        cursor = wrapper.connection.cursor()
        cursor.execute(sql, params)
    return cursor


def execute(sql: str, params=()) -> int:
    """Run one statement; returns the number of rows it changed."""
    cursor = _cursor(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def fetch(sql: str, params=()) -> list[tuple]:
    cursor = _cursor(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def quote(name: str) -> str:
    """A quoted identifier (the same double quotes on SQLite and PostgreSQL)."""
    return f'"{name}"'


def prep(model, name: str, value):
    """A value for a parameter compared with or stored in ``model.name``, prepared as the ORM does."""
    field = model._meta.get_field(name)
    return field.get_db_prep_value(value, connection(), prepared=False)


class Loader:
    """Reads ``fields`` (default: all concrete fields) of ``model`` from raw rows."""

    def __init__(self, model, fields: tuple[str, ...] | None = None):
        self.model = model
        opts = model._meta
        chosen = [opts.get_field(name) for name in fields] if fields else list(opts.concrete_fields)
        if opts.pk not in chosen:
            chosen.insert(0, opts.pk)
        self.fields = chosen
        self.attnames = [field.attname for field in chosen]
        self.table = opts.db_table
        self.width = len(chosen)
        self._select = f"SELECT {self.columns('t')} FROM {self.table} t"
        self._converters: dict[str, list] = {}

    def col(self, name: str) -> str:
        """The quoted column of a field (``"index"`` is a keyword in SQL)."""
        return quote(self.model._meta.get_field(name).column)

    def columns(self, alias: str) -> str:
        """``alias."col1", alias."col2", ...`` in the loader's order."""
        return ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)

    def _converters_for(self, conn) -> list:
        key = conn.vendor
        found = self._converters.get(key)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.table)
                converters = conn.ops.get_db_converters(expression) + expression.get_db_converters(conn)
                if converters:
                    found.append((index, converters, expression))
            self._converters[key] = found
        return found

    def values(self, row, start: int = 0) -> list:
        """The converted values of ``row[start:start + width]`` in the loader's order (no instance)."""
        values = list(row[start:start + self.width])
        conn = connection()
        for index, converters, expression in self._converters_for(conn):
            value = values[index]
            for converter in converters:
                value = converter(value, expression, conn)
            values[index] = value
        return values

    def make(self, row, start: int = 0):
        """One instance from ``row[start:start + width]`` (None when its pk is NULL, an outer join's miss)."""
        if row[start] is None:
            return None
        return self.model.from_db(DB, self.attnames, self.values(row, start))

    def select(self, where: str, params=(), *, order_by: str = "") -> list:
        """Instances of ``SELECT ... FROM table t WHERE <where> [ORDER BY ...]`` (alias ``t``)."""
        sql = f"{self._select} WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        return [self.make(row) for row in fetch(sql, params)]

    def first(self, where: str, params=(), *, order_by: str = ""):
        found = self.select(where, params, order_by=order_by)
        return found[0] if found else None


_insert_sql: dict[tuple, tuple[str, list]] = {}


def insert(obj) -> None:
    """INSERT one model instance (every concrete field but an auto pk); sets its pk and state."""
    model = type(obj)
    conn = connection()
    key = (model, conn.vendor)
    cached = _insert_sql.get(key)
    if cached is None:
        opts = model._meta
        fields = [f for f in opts.concrete_fields if not (f.primary_key and f.auto_created)]
        returning = conn.features.can_return_columns_from_insert
        sql = (f"INSERT INTO {opts.db_table} ({', '.join(quote(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))})")
        if returning:
            sql += f" RETURNING {quote(opts.pk.column)}"
        cached = _insert_sql[key] = (sql, fields)
    sql, fields = cached
    params = [field.get_db_prep_save(field.pre_save(obj, True), conn) for field in fields]
    cursor = _cursor(sql, params)
    try:
        pk = cursor.fetchone()[0] if conn.features.can_return_columns_from_insert else cursor.lastrowid
    finally:
        cursor.close()
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = DB
