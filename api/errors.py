"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

Codes are stable strings a client may branch on. A service's refusal (``core.errors.DomainError``)
and Parsec's failures (the gateway's ``parsec.errors.explain``) keep their code and sentence, so an
operator reading the admin and a tool reading the API see the same words; the HTTP status comes
from the refusal's kind, in one table here:

400 means the request does not match the schema; 422 means it does but a business rule (or
Parsec) refused it; 409 means the state of things is in the way (retry later or reconcile).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from core.errors import DomainError
from parsec import errors as parsec_errors

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
    if isinstance(exc, RequestDataTooBig):
        return ApiError(status_code=413, code="request_too_large",
                        message="The request body is larger than the API accepts (DATA_UPLOAD_MAX_MEMORY_SIZE).")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, parsec_errors.ParsecError):
        return parsec_error(exc)
    if isinstance(exc, DomainError):
        return domain_error(exc)
    return exc


# The HTTP status of each kind of refusal: a service's (core.errors) or Parsec's (parsec.errors).
KIND_STATUS = {
    "invalid": 422, "conflict": 409, "forbidden": 403, "not_found": 404, "unavailable": 503,
    "rate_limited": 429, "upstream": 502,
}


def parsec_error(exc: parsec_errors.ParsecError) -> ApiError:
    explained = parsec_errors.explain(exc)
    status = KIND_STATUS[explained.kind]
    headers = {"Retry-After": str(max(1, int(exc.retry_after or 1)))} if status in (429, 503) else {}
    fields = {}
    if isinstance(exc, parsec_errors.BadRequest) and isinstance(exc.body.get("details"), dict):
        fields = {str(k): [str(v)] for k, v in exc.body["details"].items()}
    return ApiError(status_code=status, code=explained.code, message=explained.message, fields=fields, headers=headers)


def domain_error(exc: DomainError) -> ApiError:
    """A service's refusal: its code and sentence, the status of its kind. A refusal caused by Parsec
    being down, limiting us or refusing our builder key keeps Parsec's status (retryable as is)."""
    cause = exc.__cause__
    fields = {(name or "non_field_errors"): [str(m) for m in messages] for name, messages in exc.fields.items()}
    if isinstance(cause, parsec_errors.ParsecError):
        translated = parsec_error(cause)
        if translated.status_code != 422:
            return translated
        fields = fields or translated.fields
    return ApiError(status_code=KIND_STATUS[exc.kind], code=exc.code, message=exc.message, fields=fields)


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

