"""The one door of every /api/v1 endpoint: auth, impersonation, limits, faults, JSON, errors.

A view is ``fn(ctx, **url_kwargs) -> (status, payload)`` (payload None = empty body). The
dispatcher resolves the caller from X-API-Key, the acting customer from X-Builder-Customer-Id,
asks sandbox.ratelimit for headers (or a 429), lets sandbox.faults act before and after the
view, and renders every ParsecAPIError once as ``{error, code, retryable}``.
"""

# Statements are built from model metadata (table and column names) only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import clock, faults, ratelimit, sql
from sandbox.errors import ParsecAPIError, bad_request
from sandbox.models import Builder, Customer

logger = logging.getLogger("sandbox.http")

IMPERSONATION_HEADER = "HTTP_X_BUILDER_CUSTOMER_ID"


@dataclass
class RequestContext:
    request: HttpRequest
    endpoint: str  # e.g. "orders.create"
    caller: Customer  # the owner of the X-API-Key
    customer: Customer  # who the call acts for (the caller itself without impersonation)
    impersonated: bool
    builder: Builder | None  # set when the key is a builder key
    exchange: str | None = None
    body: dict = field(default_factory=dict)

    @property
    def query(self):
        return self.request.GET


def error_response(error: ParsecAPIError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = str(value)
    return response


_CUSTOMER = sql.Loader(Customer)
_BUILDER = sql.Loader(Builder)
# The caller and its builder in one statement (the ORM's select_related("builder"), prebuilt).
_CALLER_SQL = (
    f"SELECT {_CUSTOMER.columns('c')}, {_BUILDER.columns('b')} FROM {_CUSTOMER.table} c "
    f"LEFT JOIN {_BUILDER.table} b ON b.id = c.builder_id WHERE c.api_key = %s AND c.active = %s"
)


def _authenticate(request: HttpRequest) -> Customer:
    key = request.headers.get("X-API-Key")
    if not key:
        raise ParsecAPIError(401, "unauthorized", "missing X-API-Key header")
    rows = sql.fetch(_CALLER_SQL, [key, True])
    if not rows:
        raise ParsecAPIError(401, "unauthorized", "invalid API key")
    caller = _CUSTOMER.make(rows[0])
    Customer.builder.field.set_cached_value(caller, _BUILDER.make(rows[0], _CUSTOMER.width))
    return caller


def _acting_customer(request: HttpRequest, caller: Customer) -> tuple[Customer, bool]:
    raw = request.META.get(IMPERSONATION_HEADER)
    if raw is None:
        return caller, False
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        raise bad_request("X-Builder-Customer-Id cannot be used with Bearer token auth")
    if not caller.is_builder:
        raise ParsecAPIError(403, "unauthorized", "X-Builder-Customer-Id requires a builder account")
    not_owned = ParsecAPIError(403, "unauthorized", "end-user not found or not owned by this builder")
    try:
        customer_id = uuid.UUID(raw.strip())
    except ValueError:
        raise not_owned from None
    customer = _CUSTOMER.first(
        "t.customer_id = %s AND t.builder_id = %s AND t.kind = %s AND t.active = %s",
        [sql.prep(Customer, "customer_id", customer_id), caller.builder_id, Customer.Kind.END_USER.value, True],
    )
    if customer is None:
        raise not_owned
    if caller.builder_id is not None:
        Customer.builder.field.set_cached_value(customer, caller.builder)
    return customer, True


def _json_body(request: HttpRequest) -> dict:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def api_view(handlers: dict[str, tuple[str, callable]], *, impersonation: bool = True):
    """Build one Django view for a path from ``{"GET": ("orders.list", fn), ...}``."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        clock.maybe_tick()
        extra_headers: dict = {}
        try:
            handler = handlers.get(request.method)
            caller = _authenticate(request)
            customer, impersonated = _acting_customer(request, caller) if impersonation else (caller, False)
            if handler is None:
                raise ParsecAPIError(405, "bad_request", f"method {request.method} not allowed")
            name, fn = handler
            ctx = RequestContext(
                request=request, endpoint=name, caller=caller, customer=customer, impersonated=impersonated,
                builder=caller.builder if caller.is_builder else None, exchange=request.GET.get("exchange"),
            )
            extra_headers = ratelimit.check(ctx) or {}
            faults.apply(ctx, "before")
            if request.method in ("POST", "PATCH", "PUT"):
                ctx.body = _json_body(request)
            status, payload = fn(ctx, **kwargs)
            faults.apply(ctx, "after")
            response = HttpResponse(status=status) if payload is None else JsonResponse(payload, status=status, safe=False)
        except ParsecAPIError as error:
            response = error_response(error)
        except faults.DropResponse:
            raise
        except Exception:
            logger.exception("sandbox endpoint failed: %s %s", request.method, request.path)
            response = error_response(ParsecAPIError(500, "internal_error", "internal error"))
        for name, value in extra_headers.items():
            response[name] = str(value)
        return response

    return view


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    return error_response(ParsecAPIError(404, "not_found", f"no such endpoint: {request.method} {request.path}"))


def not_supported_view(what: str):
    """An endpoint Parsec has but the sandbox does not simulate: 501 after auth, in the error shape."""

    def fn(ctx, **kwargs):
        raise ParsecAPIError(501, "not_supported", f"{what} is not supported by the sandbox")

    return fn
