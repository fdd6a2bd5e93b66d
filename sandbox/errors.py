"""Parsec's error shape, raised anywhere in the sandbox and rendered once.

Every error body is ``{"error": ..., "code": ..., "retryable": ...}``; ``retryable``
is true only for ``rate_limit_exceeded`` and ``service_unavailable`` (API-NOTES §3.2).
"""

from __future__ import annotations

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


def missing_parameter(message: str) -> ParsecAPIError:
    return ParsecAPIError(400, "missing_parameter", message)


def not_supported(message: str) -> ParsecAPIError:
    return ParsecAPIError(501, "not_supported", message)
