"""Parsec's error shape, raised anywhere in the sandbox and rendered once.

Every error body is ``{"error": ..., "code": ..., "retryable": ...}``; ``retryable``
is true only for ``rate_limit_exceeded`` and ``service_unavailable`` (NOTES §3.2).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The widest integers the sandbox's columns hold (PostgreSQL integer and bigint; SQLite refuses
# anything beyond 64 bits), and uint256 for values that are only signed, never stored.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UINT256_MAX = 2**256 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")

RETRYABLE_CODES = frozenset({"rate_limit_exceeded", "service_unavailable"})


class ParsecAPIError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, "retryable": self.code in RETRYABLE_CODES, **self.extra}


def bad_request(message: str) -> ParsecAPIError:
    return ParsecAPIError(400, "bad_request", message)


def decimal_or_400(value, name: str) -> Decimal:
    """A JSON number or numeric string as a finite Decimal; 400 ``bad_request`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad_request(f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(f"{name} must be a number") from None
    if not number.is_finite():
        raise bad_request(f"{name} must be a finite number")
    return number


def integer_or_400(value, name: str, *, low: int, high: int) -> int:
    """A JSON integer (not a boolean) in [low, high]; 400 ``bad_request`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer")
    if not low <= value <= high:
        raise bad_request(f"{name} must be an integer between {low} and {high}")
    return value


def whole_number(text, *, high: int) -> int | None:
    """``text`` as a non-negative integer if it is ASCII digits worth at most ``high``, else None.
    (``str.isdigit`` accepts "²", which ``int`` refuses, and ``int`` refuses more than 4,300 digits.)"""
    if not isinstance(text, str) or len(text) > len(str(high)) or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= high else None


def missing_parameter(message: str) -> ParsecAPIError:
    return ParsecAPIError(400, "missing_parameter", message)


def not_supported(message: str) -> ParsecAPIError:
    return ParsecAPIError(501, "not_supported", message)
