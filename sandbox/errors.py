"""Parsec's error shape, raised anywhere in the sandbox and rendered once.

Every error body is ``{"error": ..., "code": ..., "retryable": ...}``; ``retryable``
is true only for ``rate_limit_exceeded`` and ``service_unavailable`` (NOTES §3.2).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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


def missing_parameter(message: str) -> ParsecAPIError:
    return ParsecAPIError(400, "missing_parameter", message)


def not_supported(message: str) -> ParsecAPIError:
    return ParsecAPIError(501, "not_supported", message)
