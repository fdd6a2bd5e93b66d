"""One guard for "no network call inside a database transaction"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections


def in_caller_transaction() -> bool:
    """True inside an ``atomic`` block that some caller opened (a test case's wrapper does not count)."""
    return any(not block._from_testcase for block in connection.atomic_blocks)


def assert_no_transaction(what: str = "a call to Parsec", *, error: type[Exception] = RuntimeError) -> None:
    """Refuse to go on inside a caller's transaction: a network call there would hold locks for the
    length of a round trip, and a rollback would forget that the call happened (or lose a row that
    must outlive it)."""
    if in_caller_transaction():
        raise error(f"{what} must run outside any transaction")


@contextmanager
def as_owner(alias: str = "default") -> Iterator:
    """The connection ``alias``, signed in as the schema's owner for the block where one is
    configured (DATABASE_OWNER_URL, PostgreSQL): migrations and flush need an owner's rights that
    the app's own role does not have. Elsewhere the connection as it is."""
    from django.conf import settings

    connection = connections[alias]
    owner = getattr(settings, "DATABASE_OWNER", None)
    if alias != "default" or not owner or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield connection
        return
    keys = ("USER", "PASSWORD", "HOST", "PORT")
    saved = {key: connection.settings_dict.get(key) for key in keys}
    connection.close()
    connection.settings_dict.update({key: owner.get(key) or saved[key] for key in keys})
    try:
        yield connection
    finally:
        connection.close()
        connection.settings_dict.update(saved)
