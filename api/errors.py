"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

Codes are stable strings a client may branch on. Parsec's refusals reach here as the gateway's
typed exceptions and get the same code (and message) the admin shows, from ``orders.messages``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with an explicit status, code and message (and optional field errors)."""

    def __init__(self, *, status_code: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None):
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}
        super().__init__(detail=message, code=code)


# DRF's own exceptions, by class: (code, default message).
_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ValidationError, "invalid"),
    (exceptions.ParseError, "malformed_request"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "throttled"),
]


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _fields(detail) -> dict:
    """Field errors as ``{field: [messages]}``; nested errors are flattened with dots."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), inner)
        else:
            messages = value if isinstance(value, list) else [value]
            out.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return out


def _translate(exc):
    """Turn Django's and the domain's exceptions into ApiError / DRF exceptions."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    from api.domain_errors import translate_domain_error

    return translate_domain_error(exc) or exc


def exception_handler(exc, context):
    exc = _translate(exc)
    if isinstance(exc, ApiError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=exc.headers)
        return response
    if not isinstance(exc, exceptions.APIException):
        # A bug, not a refusal: logged with its traceback, answered in the same shape.
        logger.exception("unhandled error in %s", type(context.get("view")).__name__, exc_info=exc)
        return Response(
            error_body("server_error", "The server failed. A write may be retried with the same Idempotency-Key."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        message = "The request is not valid; see fields."
        if set(fields) == {"non_field_errors"}:
            message = fields["non_field_errors"][0]
        body = error_body(code, message, fields)
    else:
        body = error_body(code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)

