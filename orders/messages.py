"""Parsec's refusals and failures, as operators read them. One map, used by the admin and the API.

``for_exception(exc)`` → ``(code, message)``. The code is stable (the API's error codes reuse
it); the message says what happened and what to do, never a stack trace.
"""

from __future__ import annotations

from parsec import errors as parsec_errors

# Most specific class first: the first isinstance match wins.
EXCEPTION_MESSAGES: list[tuple[type[Exception], str, str]] = [
    (parsec_errors.CredentialsRequired, "credentials_required",
     "Parsec has no exchange credentials for this customer on this exchange: onboard the customer to the exchange "
     "first. Nothing was placed."),
    (parsec_errors.InsufficientFunds, "insufficient_funds",
     "Parsec refused the order: the customer's balance does not cover it (and its fee). Nothing was placed."),
    (parsec_errors.PermissionDenied, "permission_denied",
     "Parsec refused to act for this customer (not owned by this builder, deactivated, or the exchange rejected "
     "the stored credentials). Nothing was placed."),
    (parsec_errors.NotFound, "not_found",
     "Parsec does not know this market, order or customer. Nothing was executed; sync the catalogue and try again."),
    (parsec_errors.NotSupported, "not_supported",
     "The exchange does not support this operation or order type (for example fill-or-kill or good-till-date on "
     "Kalshi). Nothing was executed."),
    (parsec_errors.Unauthorized, "unauthorized",
     "Parsec refused the builder API key (PARSEC_API_KEY). Nothing was executed; tell an administrator."),
    (parsec_errors.BadRequest, "bad_request",
     "Parsec refused the request as invalid. Nothing was executed; correct it and try again."),
    (parsec_errors.ParsecRejected, "rejected", "Parsec refused the request. Nothing was executed."),
    (parsec_errors.RateLimited, "rate_limited",
     "Parsec's rate limit was hit, so the order was not placed. It is never resent automatically; try again in a "
     "moment."),
    (parsec_errors.ParsecUnavailable, "unavailable",
     "Parsec or the exchange is unavailable (HTTP 5xx). For an order, we do not know yet whether it was placed: it "
     "is being reconciled."),
    (parsec_errors.ParsecTimeout, "timeout",
     "Parsec did not answer in time. For an order, we do not know yet whether it was placed: it is being "
     "reconciled."),
    (parsec_errors.ParsecConnectionError, "connection_error",
     "The connection to Parsec failed. For an order, it may or may not have been placed: it is being reconciled."),
    (parsec_errors.ParsecError, "parsec_error", "The call to Parsec failed."),
]


def for_exception(exc: BaseException) -> tuple[str, str]:
    """The stable code and the operator's message for a failure (Parsec's own words appended)."""
    for cls, code, text in EXCEPTION_MESSAGES:
        if isinstance(exc, cls):
            said = getattr(exc, "parsec_message", "") or ""
            if isinstance(exc, parsec_errors.ParsecConnectionError) and exc.request_sent is False:
                text = "Could not connect to Parsec; nothing was sent. Check that Parsec is reachable."
            status = getattr(exc, "status", None)
            detail = f" (Parsec said{f' HTTP {status}' if status else ''}: “{said}”)" if said else (
                f" (HTTP {status})" if status else "")
            return code, text + detail
    return "internal_error", "An unexpected error occurred; it has been logged. For an order, it is being reconciled."


def intent_status_message(intent) -> str:
    """One sentence for where an intent stands (the result page, the API's message)."""
    from orders.models import OrderIntent

    status = intent.status
    if status == OrderIntent.Status.PLACED:
        return f"Placed at Parsec as order {intent.parsec_order_id}."
    if status == OrderIntent.Status.REJECTED:
        return f"Rejected: {intent.error_message}"
    if status == OrderIntent.Status.NOT_PLACED:
        return f"Not placed: {intent.error_message or intent.reconcile_note}"
    if status == OrderIntent.Status.UNKNOWN:
        return ("Parsec's answer was lost, so we do not know yet whether the order was placed. It is being "
                f"reconciled automatically ({intent.error_message})")
    if status == OrderIntent.Status.SENDING:
        return "Being sent to Parsec right now."
    if status == OrderIntent.Status.NEEDS_REVIEW:
        return f"Needs review by a person: {intent.reconcile_note}"
    if status == OrderIntent.Status.AWAITING_APPROVAL:
        return "Waiting for a second Operations user's approval."
    if status == OrderIntent.Status.WITHDRAWN:
        return f"Withdrawn before sending. {intent.error_message}".strip()
    return "Ready to send."


def already_handled(intent) -> str:
    return "This order was already submitted (no second order was sent). " + intent_status_message(intent)
