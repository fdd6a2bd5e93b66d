"""One guard for "no network call inside a database transaction"."""

from __future__ import annotations

from django.db import connection, transaction


def in_caller_transaction() -> bool:
    """True inside an ``atomic`` block that some caller opened (a test case's wrapper does not count)."""
    return any(not block._from_testcase for block in connection.atomic_blocks)


def assert_no_transaction(what: str = "a call to Parsec") -> None:
    """Refuse to go on inside any transaction: a network call there would hold locks for the length
    of a round trip, and a rollback would forget that the call happened."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{what} must not run inside a database transaction")
