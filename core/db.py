"""One guard for "no network call inside a database transaction"."""

from __future__ import annotations

from django.db import connection


def in_caller_transaction() -> bool:
    """True inside an ``atomic`` block that some caller opened (a test case's wrapper does not count)."""
    return any(not block._from_testcase for block in connection.atomic_blocks)


def assert_no_transaction(what: str = "a call to Parsec", *, error: type[Exception] = RuntimeError) -> None:
    """Refuse to go on inside a caller's transaction: a network call there would hold locks for the
    length of a round trip, and a rollback would forget that the call happened (or lose a row that
    must outlive it)."""
    if in_caller_transaction():
        raise error(f"{what} must run outside any transaction")
