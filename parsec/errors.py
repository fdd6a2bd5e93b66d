"""The closed list of everything a call to Parsec can end in, other than success.

The class tells the caller what to do:

- ``ParsecRejected`` (and its subclasses): Parsec refused the request on purpose. Do not
  retry; fix the input, the credentials or the customer's funds.
- ``RateLimited``: not executed; wait ``retry_after`` seconds. Never resend an order
  automatically: a human or a reconciler decides.
- ``ParsecUnavailable``: Parsec or the exchange behind it failed (503, 500, a 5xx page
  from a proxy). Reads may be retried; a write may or may not have happened.
- ``ParsecTimeout`` / ``ParsecConnectionError``: the network failed. ``request_sent``
  says whether the request may have reached Parsec.
- ``UnexpectedResponse``: a success status whose body is not what the contract says.

``placement_outcome(exc)`` turns any of these into what issue 5 needs to know about an
order creation: ``placed``, ``rejected``, ``not_placed`` or ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlacementOutcome = Literal["placed", "rejected", "not_placed", "unknown"]


class ParsecError(Exception):
    """Base class. ``str(exc)`` is a message an operator can act on."""

    default_code = "error"
    action = "Check the Parsec call log for this request."

    def __init__(
        self,
        parsec_message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
        body: dict | None = None,
        from_parsec: bool = False,
    ):
        self.parsec_message = parsec_message
        self.status = status
        self.code = code or self.default_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.method = method
        self.path = path
        # The parsed error body, minus nothing: Parsec error bodies carry no secrets.
        self.body = body or {}
        # True when the body was Parsec's own JSON error shape (not a proxy page).
        self.from_parsec = from_parsec
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}" if self.status else "no HTTP response"
        said = f": {self.parsec_message}" if self.parsec_message else ""
        return f"Parsec {where} failed ({status}, {self.code}){said}. {self.action}"

    @property
    def placement_outcome(self) -> PlacementOutcome:
        return "unknown"


class ParsecRejected(ParsecError):
    """A definite refusal: Parsec did not and will not execute this request as sent."""

    default_code = "rejected"
    action = "Nothing was executed; correct the request before trying again."

    @property
    def placement_outcome(self) -> PlacementOutcome:
        # Only Parsec's own JSON refusal is definite; a 4xx page from something in
        # between (a proxy, a wrong base URL) says nothing about what Parsec did.
        return "rejected" if self.from_parsec else "unknown"


class BadRequest(ParsecRejected):
    default_code = "bad_request"
    action = "Nothing was executed; correct the fields Parsec names and submit again."


class Unauthorized(ParsecRejected):
    default_code = "unauthorized"
    action = "Nothing was executed; the builder API key (PARSEC_API_KEY) is missing or invalid."


class InsufficientFunds(ParsecRejected):
    default_code = "insufficient_funds"
    action = "Nothing was executed; the customer's balance does not cover this order (and its fee)."


class PermissionDenied(ParsecRejected):
    default_code = "permission_denied"
    action = "Nothing was executed; check that the customer belongs to this builder, is active, and that its exchange credentials are valid."


class CredentialsRequired(PermissionDenied):
    default_code = "credentials_required"
    action = "Nothing was executed; onboard the customer to this exchange (or send per-request credentials) first."


class NotFound(ParsecRejected):
    default_code = "not_found"
    action = "Nothing was executed; the customer, order, market or exchange does not exist at Parsec."


class NotSupported(ParsecRejected):
    default_code = "not_supported"
    action = "Nothing was executed; this exchange does not support the operation or order type."


class RateLimited(ParsecError):
    default_code = "rate_limit_exceeded"

    @property
    def action(self) -> str:  # type: ignore[override]
        if self.code == "monthly_limit_exceeded":
            return "Not executed; the builder's monthly request quota is used up (resets on the 1st, UTC)."
        wait = f" {self.retry_after:g} s" if self.retry_after is not None else ""
        return f"Not executed; the QPS budget is exhausted. Wait{wait} and try again (orders are never resent automatically)."

    @property
    def placement_outcome(self) -> PlacementOutcome:
        return "not_placed"


class ParsecUnavailable(ParsecError):
    default_code = "service_unavailable"
    action = "Parsec or the exchange is failing; reads are retried, but a write may or may not have happened: reconcile before repeating it."


class ParsecTimeout(ParsecError):
    default_code = "timeout"
    action = "No answer in time; the request may have been executed: reconcile before repeating a write."

    def __init__(self, *args, request_sent: bool | None = True, **kwargs):
        self.request_sent = request_sent
        super().__init__(*args, **kwargs)


class ParsecConnectionError(ParsecError):
    default_code = "connection_error"

    def __init__(self, *args, request_sent: bool | None = None, **kwargs):
        # False: the connection was never established, so nothing reached Parsec.
        # None: it broke during the exchange (reset, closed): the request may have arrived.
        self.request_sent = request_sent
        super().__init__(*args, **kwargs)

    @property
    def action(self) -> str:  # type: ignore[override]
        if self.request_sent is False:
            return "Could not connect; nothing was sent. Check PARSEC_API_BASE_URL and that Parsec is reachable."
        return "The connection broke mid-request; the request may have been executed: reconcile before repeating a write."

    @property
    def placement_outcome(self) -> PlacementOutcome:
        return "not_placed" if self.request_sent is False else "unknown"


class UnexpectedResponse(ParsecError):
    default_code = "unexpected_response"
    action = "Parsec answered with a body that does not match its contract; report it, and reconcile before repeating a write."


def placement_outcome(exc: BaseException | None) -> PlacementOutcome:
    """What an order creation that ended with ``exc`` (None: it returned) did.

    2xx: placed. Parsec's JSON refusal (400/401/402/403/404/501): rejected. 429 and a
    connection never established: not placed. Timeout, reset, 5xx, anything else: unknown.
    """
    if exc is None:
        return "placed"
    if isinstance(exc, ParsecError):
        return exc.placement_outcome
    return "unknown"


STATUS_CLASSES: dict[int, type[ParsecError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: InsufficientFunds,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
    501: NotSupported,
}

CODE_CLASSES: dict[str, type[ParsecError]] = {
    "credentials_required": CredentialsRequired,
}


def error_class_for(status: int, code: str | None) -> type[ParsecError]:
    if code in CODE_CLASSES and status == 403:
        return CODE_CLASSES[code]
    if status in STATUS_CLASSES:
        return STATUS_CLASSES[status]
    if status >= 500:
        return ParsecUnavailable
    if 400 <= status < 500:
        return ParsecRejected
    return UnexpectedResponse


# --- The fee escrow's chain (parsec.escrow_chain): the same kinds, for JSON-RPC calls -------------


class ChainError(ParsecError):
    """A JSON-RPC call to the escrow's chain (ESCROW_RPC_URL) failed. Every call is a read."""

    def __init__(self, message: str = "", *, rpc_method: str = "", rpc_code: int | None = None, **kwargs):
        self.rpc_method, self.rpc_code = rpc_method, rpc_code
        super().__init__(message, method=rpc_method, **kwargs)

    @property
    def message(self) -> str:
        code = f" (JSON-RPC {self.rpc_code})" if self.rpc_code is not None else ""
        status = f" (HTTP {self.status})" if self.status else ""
        said = f": {self.parsec_message}" if self.parsec_message else ""
        return f"Escrow chain {self.rpc_method or 'RPC'} failed{status}{code}{said}. {self.action}"


class ChainUnavailable(ChainError, ParsecUnavailable):
    action = "The RPC provider is failing or behind; the read is retried, then shown as not checked."


class ChainTimeout(ChainError, ParsecTimeout):
    action = "The RPC provider did not answer in time (ESCROW_RPC_TIMEOUT_SECONDS); the read is retried."


class ChainConnectionError(ChainError, ParsecConnectionError):
    @property
    def action(self) -> str:  # type: ignore[override]
        return "Could not reach the RPC provider: check ESCROW_RPC_URL and the network."


class ChainRateLimited(ChainError, RateLimited):
    @property
    def action(self) -> str:  # type: ignore[override]
        return "The RPC provider's rate limit was hit; the read waits and is retried (consider a paid plan or a lower ESCROW_LOG_BLOCK_RANGE)."


class ChainLimitExceeded(ChainError, ParsecRejected):
    action = "The provider refuses a log range this large or with this many results; the reader splits the range."


class ChainRejected(ChainError, ParsecRejected):
    action = "The RPC provider refused the call as malformed or unsupported; check ESCROW_RPC_URL points at an Ethereum JSON-RPC endpoint."


class ChainCallReverted(ChainError, ParsecRejected):
    action = "The contract refused the call: the ABI (ESCROW_ABI_PATH) does not match the contract at ESCROW_CONTRACT_ADDRESS."


class ChainUnexpectedResponse(ChainError, UnexpectedResponse):
    action = "The answer is not JSON-RPC: check that ESCROW_RPC_URL is an Ethereum JSON-RPC endpoint."


class ChainMisconfigured(ChainError):
    """Refused at start: the chain or the contract is not the one configured."""

    default_code = "misconfigured"
    action = "Fix the ESCROW_* settings: the back-office will not read escrow state from another chain or address."


# --- What each failure means to a person: one table, used by the admin, the API and the tasks ---

# How a face should treat a failure: Parsec refused the request as sent (``invalid``), its
# limit was hit (``rate_limited``), it or the network is failing (``unavailable``), or it
# refused something only we can fix, such as our builder key (``upstream``).
ErrorKind = Literal["invalid", "rate_limited", "unavailable", "upstream"]


@dataclass(frozen=True)
class Explanation:
    code: str  # stable: the API's error code and the audit log's error_code
    kind: ErrorKind
    message: str  # what happened and what to do, with Parsec's own words when it gave any


# Most specific class first: the first isinstance match wins.
EXPLANATIONS: list[tuple[type[ParsecError], str, ErrorKind, str]] = [
    # The fee escrow's chain (parsec.escrow_chain) first: its errors are also Parsec's kinds.
    (ChainMisconfigured, "escrow_chain_misconfigured", "upstream",
     "The escrow chain settings (ESCROW_*) do not match the chain or the contract there; escrow state was not read. "
     "Tell an administrator."),
    (ChainCallReverted, "escrow_chain_reverted", "upstream",
     "The escrow contract refused the read: its ABI (ESCROW_ABI_PATH) does not match the contract. Tell an administrator."),
    (ChainRateLimited, "escrow_chain_rate_limited", "rate_limited",
     "The escrow chain's RPC provider limited our reads; escrow state was not checked this time."),
    (ChainError, "escrow_chain_unavailable", "unavailable",
     "The escrow chain could not be read (its RPC provider failed, was slow or unreachable); escrow state was not "
     "checked this time."),
    (CredentialsRequired, "credentials_required", "invalid",
     "Parsec has no exchange credentials for this customer on this exchange: onboard the customer to the exchange "
     "first. Nothing was placed."),
    (InsufficientFunds, "insufficient_funds", "invalid",
     "Parsec refused the order: the customer's balance does not cover it (and its fee). Nothing was placed."),
    (PermissionDenied, "permission_denied", "invalid",
     "Parsec refused to act for this customer (not owned by this builder, deactivated, or the exchange rejected "
     "the stored credentials). Nothing was placed."),
    (NotFound, "not_found", "invalid",
     "Parsec does not know this market, order or customer. Nothing was executed; sync the catalogue and try again."),
    (NotSupported, "not_supported", "invalid",
     "The exchange does not support this operation or order type (for example fill-or-kill or good-till-date on "
     "Kalshi). Nothing was executed."),
    (Unauthorized, "unauthorized", "upstream",
     "Parsec refused the builder API key (PARSEC_API_KEY). Nothing was executed; tell an administrator."),
    (BadRequest, "bad_request", "invalid",
     "Parsec refused the request as invalid. Nothing was executed; correct it and try again."),
    (ParsecRejected, "rejected", "invalid", "Parsec refused the request. Nothing was executed."),
    (RateLimited, "rate_limit_exceeded", "rate_limited",
     "Parsec's rate limit was hit, so the order was not placed. It is never resent automatically; try again in a "
     "moment."),
    (ParsecUnavailable, "unavailable", "unavailable",
     "Parsec or the exchange is unavailable (HTTP 5xx). For an order, we do not know yet whether it was placed: it "
     "is being reconciled."),
    (ParsecTimeout, "timeout", "unavailable",
     "Parsec did not answer in time. For an order, we do not know yet whether it was placed: it is being "
     "reconciled."),
    (ParsecConnectionError, "connection_error", "unavailable",
     "The connection to Parsec failed. For an order, it may or may not have been placed: it is being reconciled."),
    (ParsecError, "parsec_error", "upstream", "The call to Parsec failed."),
]


# Parsec's two rate-limit codes (NOTES §3.2): both mean "not executed, wait".
RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "monthly_limit_exceeded"})


def explain(exc: BaseException) -> Explanation:
    """The stable code, the kind and the operator's sentence for a failure (Parsec's own words appended).
    A rate limit keeps Parsec's own code (``rate_limit_exceeded`` or ``monthly_limit_exceeded``)."""
    for cls, code, kind, text in EXPLANATIONS:
        if isinstance(exc, cls):
            if cls is RateLimited and getattr(exc, "code", "") in RATE_LIMIT_CODES:
                code = exc.code
            said = getattr(exc, "parsec_message", "") or ""
            if isinstance(exc, ParsecConnectionError) and not isinstance(exc, ChainError) and exc.request_sent is False:
                text = "Could not connect to Parsec; nothing was sent. Check that Parsec is reachable."
            status = getattr(exc, "status", None)
            detail = f" (Parsec said{f' HTTP {status}' if status else ''}: “{said}”)" if said else (
                f" (HTTP {status})" if status else "")
            return Explanation(code, kind, text + detail)
    return Explanation("internal_error", "upstream",
                       "An unexpected error occurred; it has been logged. For an order, it is being reconciled.")
