"""Domain exceptions (services, gateway) → API errors, with the admin's codes and messages.

400 means the request does not match the schema; 422 means it does but a business rule (or
Parsec) refused it; 409 means the state of things is in the way (retry later or reconcile).

The code and the sentence come from ``orders.messages`` (Parsec's refusals) or from the
service's own exception, so an operator reading the admin and a tool reading the API see the
same words; only the HTTP status is the API's choice.
"""

from __future__ import annotations

from api.errors import ApiError
from parsec import errors as parsec_errors

# Trading refusals that are about the state of things rather than the request's fields.
CONFLICT_CODES = frozenset({
    "duplicate_unresolved_intent", "intent_key_conflict", "approval_required", "approval_not_needed",
})

# Parsec failures by class, most specific first: the HTTP status the API answers with.
PARSEC_STATUSES: list[tuple[type[Exception], int]] = [
    (parsec_errors.RateLimited, 429),
    (parsec_errors.Unauthorized, 502),  # our builder key: nothing the caller can fix
    (parsec_errors.ParsecRejected, 422),
    (parsec_errors.ParsecUnavailable, 503),
    (parsec_errors.ParsecTimeout, 503),
    (parsec_errors.ParsecConnectionError, 503),
    (parsec_errors.ParsecError, 502),
]


def parsec_error(exc: parsec_errors.ParsecError) -> ApiError:
    from orders.messages import for_exception

    code, message = for_exception(exc)
    status = next(status for cls, status in PARSEC_STATUSES if isinstance(exc, cls))
    headers = {}
    if status in (429, 503):
        headers["Retry-After"] = str(max(1, int(exc.retry_after or 1)))
    fields = {}
    if isinstance(exc, parsec_errors.BadRequest) and isinstance(exc.body.get("details"), dict):
        fields = {str(k): [str(v)] for k, v in exc.body["details"].items()}
    return ApiError(status_code=status, code=code, message=message, fields=fields, headers=headers)


# End-user refusals that are about the state of things (customers.enduser_services codes).
ENDUSER_CONFLICT_CODES = frozenset({"exists", "deactivated", "already_requested"})


def enduser_error(exc) -> ApiError:
    """An ``EndUserError``: its code and sentence as the admin shows them. Parsec being down or
    refusing our builder key keeps Parsec's status (503/502/429, retryable with the same key)."""
    cause = exc.__cause__
    if exc.code == "parsec_refused" and isinstance(cause, parsec_errors.ParsecError):
        translated = parsec_error(cause)
        if translated.status_code != 422:
            return translated
        return ApiError(status_code=422, code=exc.code, message=exc.message, fields=translated.fields)
    status = 409 if exc.code in ENDUSER_CONFLICT_CODES else 422
    return ApiError(status_code=status, code=exc.code, message=exc.message, fields={exc.field: [exc.message]} if exc.field else {})


# Review refusals (compliance.services codes): no role is forbidden, the alert's state a conflict.
REVIEW_ERROR_STATUS = {"forbidden": 403, "wrong_state": 409, "not_assignee": 409}


def translate_domain_error(exc) -> ApiError | None:
    if isinstance(exc, parsec_errors.ParsecError):
        return parsec_error(exc)
    from compliance.services import ReviewError

    if isinstance(exc, ReviewError):
        return ApiError(status_code=REVIEW_ERROR_STATUS.get(exc.code, 422), code=exc.code, message=exc.message,
                        fields={exc.field: [exc.message]} if exc.field else {})
    from customers.enduser_services import EndUserError
    from orders.escrow import FeeAuthError

    if isinstance(exc, EndUserError):
        return enduser_error(exc)
    if isinstance(exc, FeeAuthError):
        # The same codes as the admin's order form (orders.escrow's checks), on the fee_auth field.
        return ApiError(status_code=422, code=exc.code, message=exc.message, fields={"fee_auth": [exc.message]})
    from orders.services import OrderValidationError, TradingError

    if isinstance(exc, OrderValidationError):
        fields = {(name or "non_field_errors"): [str(m) for m in messages] for name, messages in exc.errors.items()}
        return ApiError(status_code=422, code=exc.code, message=exc.message, fields=fields)
    if isinstance(exc, TradingError):
        status = 409 if exc.code in CONFLICT_CODES else 422
        fields = {exc.field: [exc.message]} if exc.field else {}
        return ApiError(status_code=status, code=exc.code, message=exc.message, fields=fields)
    return None
