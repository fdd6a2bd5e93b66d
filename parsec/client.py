"""The only code that talks to Parsec: one ``_request()`` door, one method per endpoint.

Every call goes through ``ParsecClient._request``, which adds the headers, waits for the
shared rate limiter, applies the timeouts, maps errors to ``parsec.errors``, retries what
``parsec.retry`` allows, and leaves one ``OutboundCall`` row per attempt. Methods take
keyword arguments and return the frozen dataclasses of ``parsec.types``.

Secrets: the builder key, per-request exchange credentials and fee signatures travel in
headers or bodies only; neither is logged nor stored. End-user ``api_key`` values that
Parsec returns are reduced to their last four characters by ``parsec.types``.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from . import calllog, ratelimit
from .errors import (
    ParsecConnectionError,
    ParsecError,
    ParsecTimeout,
    RateLimited,
    UnexpectedResponse,
    error_class_for,
)
from .models import OutboundCall
from .retry import CONNECT_ONLY, NEVER, READS, RetryPolicy, backoff_delay
from .types import (
    Balance,
    BuilderUser,
    BuilderUserPage,
    EscrowConfig,
    EventSummary,
    ExchangeInfo,
    ExecutionPrice,
    FeeAuthorization,
    Fill,
    Market,
    MarketPage,
    OnboardResult,
    Order,
    Orderbook,
    OrderListStatus,
    PingResult,
    PoolStatus,
    Position,
    PriceHistory,
    Side,
    SignedFeeAuth,
    TradePage,
    to_unix_seconds,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
SECRET_QUERY_KEYS = frozenset({"api_key", "key", "token", "signature", "secret", "credentials"})
ORDER_TYPES = frozenset({"gtc", "ioc", "fok", "gtd"})
MARKETS_BATCH_MAX = 100
PRICE_INTERVALS = frozenset({"1m", "1h", "6h", "1d", "1w", "max"})
# A write's hard deadline once it has started: beyond the HTTP timeouts, the call log's write and parsing.
SEND_MARGIN_SECONDS = 5.0


def _wire_number(value: Decimal | int | str, name: str) -> float | int:
    """Parsec's JSON numbers. A float whose shortest repr is exactly the Decimal's text is
    sent as that text by ``json``; anything that would lose digits is refused here."""
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    as_float = float(number)
    if Decimal(repr(as_float)) != number:
        raise ValueError(f"{name}={value} has more precision than Parsec's JSON numbers carry")
    return as_float


def _encode_credentials(credentials: dict) -> str:
    return base64.b64encode(json.dumps(credentials, separators=(",", ":")).encode()).decode()


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date). A value we cannot
    read (``1.5s``, ``inf``, a broken date) counts as absent: the retry policy's own backoff applies,
    and a response that carries one is judged by its status alone."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = (parsed - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class ParsecClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        read_retries: int = 3,
        max_backoff: float = 8.0,
        backoff_base: float = 0.25,
        pool_size: int = 32,
        limiter: ratelimit.RateLimiter | None = None,
        sandbox_admin_key: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = 1 + max(0, read_retries)
        self.max_backoff = max_backoff
        self.backoff_base = backoff_base
        self._limiter = limiter
        self._sandbox_admin_key = sandbox_admin_key
        self.session = requests.Session()
        # One connection per worker thread; block rather than open unpooled extras.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, pool_block=True, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "parsec-backoffice/1"})
        # The environment's proxy settings are read once here, not on every request: with
        # trust_env requests re-reads os.environ (and ~/.netrc) per call, a measurable share of
        # a sync's time. NO_PROXY is honoured for this client's one base URL.
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.trust_env = False

    def __repr__(self) -> str:
        return f"ParsecClient(base_url={self.base_url!r})"

    @property
    def send_deadline_seconds(self) -> float:
        """How long one unretried write can take at most: connect + read timeout + margin."""
        return self.connect_timeout + self.read_timeout + SEND_MARGIN_SECONDS

    @property
    def limiter(self) -> ratelimit.RateLimiter:
        return self._limiter or ratelimit.get_limiter()

    # --- the door -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path_template: str,
        *,
        path_params: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        body: dict | None = None,
        customer_id: str | None = None,
        exchange: str = "",
        credentials: dict | None = None,
        retry: RetryPolicy | None = None,
        prefix: str = API_PREFIX,
        extra_headers: dict[str, str] | None = None,
        rate_limited: bool = True,
        token_taken: bool = False,
    ) -> tuple[int, Any]:
        """Send one logical call; return (status, parsed JSON body or None for 204).

        ``token_taken``: the caller already waited for the rate limiter (order creation takes its
        token before the intent is claimed, so no unbounded wait sits inside a send's lease)."""
        if retry is None:
            retry = READS if method == "GET" else NEVER
        path = path_template.format(**{k: quote(str(v), safe="") for k, v in (path_params or {}).items()})
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{prefix}{path}"
        headers = {"X-API-Key": self._api_key, **(extra_headers or {})}
        if customer_id is not None:
            headers["X-Builder-Customer-Id"] = str(customer_id)
        if credentials:
            headers["X-Exchange-Credentials"] = _encode_credentials(credentials)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        logged_path = f"{prefix}{path}"
        safe_query = {k: v for k, v in query.items() if k.lower() not in SECRET_QUERY_KEYS}
        if safe_query:
            logged_path += "?" + urlencode(safe_query)

        attempt = 1
        while True:
            if rate_limited and not token_taken:
                self.limiter.acquire(customer_id)
            token_taken = False
            started = time.monotonic()
            response = None
            error: ParsecError | None = None
            try:
                response = self.session.request(
                    method, url, params=query, data=data, headers=headers, timeout=(self.connect_timeout, self.read_timeout)
                )
            except requests.exceptions.ConnectTimeout as exc:
                error = ParsecConnectionError(f"could not connect within {self.connect_timeout:g} s", method=method, path=path, request_sent=False)
                error.__cause__ = exc
            except requests.exceptions.Timeout as exc:
                error = ParsecTimeout(f"no response within {self.read_timeout:g} s", method=method, path=path)
                error.__cause__ = exc
            except requests.exceptions.ConnectionError as exc:
                refused = _is_connect_failure(exc)
                error = ParsecConnectionError(
                    "connection refused" if refused else "connection broken during the request", method=method, path=path, request_sent=False if refused else None
                )
                error.__cause__ = exc
            latency_ms = int((time.monotonic() - started) * 1000)

            payload = None
            if response is not None:
                payload, error = self._interpret(response, method=method, path=path)
            self._log(
                method=method, path_template=path_template, path=logged_path, customer_id=customer_id, exchange=exchange,
                response=response, error=error, latency_ms=latency_ms, attempt=attempt,
            )
            if error is None:
                return response.status_code, payload
            if isinstance(error, RateLimited) and error.retryable and rate_limited:
                self.limiter.penalize(error.retry_after if error.retry_after is not None else 1.0)
            if not retry.should_retry(error, attempt=attempt, max_attempts=self.max_attempts, max_backoff=self.max_backoff):
                raise error
            delay = backoff_delay(attempt, base=self.backoff_base, max_backoff=self.max_backoff, retry_after=error.retry_after)
            logger.info("retrying %s %s in %.2f s after %s (attempt %d)", method, path_template, delay, error.code, attempt)
            time.sleep(delay)
            attempt += 1

    def _interpret(self, response: requests.Response, *, method: str, path: str) -> tuple[Any, ParsecError | None]:
        status = response.status_code
        text = response.text
        parsed: Any = None
        is_json = False
        if text:
            try:
                parsed = json.loads(text, parse_float=Decimal)
                is_json = True
            except ValueError:
                parsed = None
        if 200 <= status < 300:
            if status == 204 or not text:
                return None, None
            if not is_json:
                return None, UnexpectedResponse("the success response is not JSON", status=status, method=method, path=path)
            return parsed, None
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if is_json and isinstance(parsed, dict) and "error" in parsed:
            code = parsed.get("code")
            cls = error_class_for(status, code)
            return None, cls(
                str(parsed.get("error") or ""),
                status=status,
                code=code,
                retryable=bool(parsed.get("retryable", False)),
                retry_after=retry_after,
                method=method,
                path=path,
                body={k: (str(v) if isinstance(v, Decimal) else v) for k, v in parsed.items()},
                from_parsec=True,
            )
        cls = error_class_for(status, None)
        snippet = " ".join(text[:160].split()) if text else ""
        return None, cls(
            f"non-JSON {status} response{': ' + snippet if snippet else ''}",
            status=status,
            retryable=status in (429, 502, 503, 504),
            retry_after=retry_after,
            method=method,
            path=path,
        )

    def _log(self, *, method, path_template, path, customer_id, exchange, response, error, latency_ms, attempt) -> None:
        rate_headers = {}
        retry_after = None
        if response is not None:
            rate_headers = {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit-") or k.lower() == "x-parsec-tier"}
            retry_after = _retry_after(response.headers.get("Retry-After"))
        calllog.record(
            OutboundCall(
                created_at=datetime.now(UTC),
                method=method,
                path_template=path_template[:120],
                path=path[:500],
                customer_id=customer_id or "",
                exchange=exchange or "",
                status_code=response.status_code if response is not None else None,
                error_code=(error.code if error else "")[:64],
                error_class=(type(error).__name__ if error else ""),
                latency_ms=latency_ms,
                attempt=attempt,
                retry_after=retry_after,
                rate_limit=rate_headers,
            )
        )

    # --- builder: end-users -----------------------------------------------------------

    def create_user(self, *, external_id: str, email: str | None = None, qps_limit: int | None = None, eoa_address: str | None = None) -> BuilderUser:
        """Idempotent at Parsec on ``external_id`` (201 new, 200 existing), hence retried like a read."""
        body = {"external_id": external_id, "email": email, "qps_limit": qps_limit, "eoa_address": eoa_address}
        status, data = self._request("POST", "/builder/users", body={k: v for k, v in body.items() if v is not None}, retry=READS)
        return BuilderUser.from_wire(data, created=status == 201)

    def list_users(self, *, limit: int = 100, cursor: str | None = None) -> BuilderUserPage:
        _, data = self._request("GET", "/builder/users", params={"limit": limit, "cursor": cursor})
        return BuilderUserPage(users=tuple(BuilderUser.from_wire(u) for u in data.get("users") or ()), next_cursor=data.get("next_cursor") or None)

    def iter_users(self, *, page_size: int = 100) -> Iterator[BuilderUser]:
        """Every end-user, following the keyset cursor to the end."""
        cursor = None
        while True:
            page = self.list_users(limit=page_size, cursor=cursor)
            yield from page.users
            if not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    def get_user(self, *, customer_id: str) -> BuilderUser:
        _, data = self._request("GET", "/builder/users/{customer_id}", path_params={"customer_id": customer_id})
        return BuilderUser.from_wire(data)

    def update_user(self, *, customer_id: str, qps_limit: int) -> BuilderUser:
        if int(qps_limit) < 1:
            raise ValueError("qps_limit must be at least 1")
        _, data = self._request(
            "PATCH", "/builder/users/{customer_id}", path_params={"customer_id": customer_id}, body={"qps_limit": int(qps_limit)}, retry=CONNECT_ONLY
        )
        return BuilderUser.from_wire(data)

    def deactivate_user(self, *, customer_id: str) -> None:
        self._request("DELETE", "/builder/users/{customer_id}", path_params={"customer_id": customer_id}, retry=CONNECT_ONLY)

    def onboard(
        self,
        *,
        customer_id: str,
        exchange: str,
        mode: str,
        wallet_type: str | None = None,
        eoa_address: str | None = None,
        chain_id: int | None = None,
        credentials: dict | None = None,
    ) -> OnboardResult:
        """Link a customer to an exchange. ``credentials`` (self mode: the CLOB trio /
        private_key / api_key_id) go into the body once and are never logged or kept."""
        body = {"customer_id": customer_id, "exchange": exchange, "mode": mode, "wallet_type": wallet_type, "eoa_address": eoa_address, "chain_id": chain_id}
        body = {k: v for k, v in body.items() if v is not None}
        body.update(credentials or {})
        _, data = self._request("POST", "/builder/onboard", body=body, exchange=exchange, retry=READS)
        return OnboardResult.from_wire(data)

    def get_pool(self) -> PoolStatus:
        _, data = self._request("GET", "/builder/pool")
        return PoolStatus.from_wire(data)

    def get_escrow_config(self) -> EscrowConfig:
        _, data = self._request("GET", "/builder/escrow/config")
        return EscrowConfig.from_wire(data)

    # --- orders (customer-scoped: X-Builder-Customer-Id) ------------------------------

    def list_orders(
        self,
        *,
        customer_id: str,
        exchange: str,
        status: OrderListStatus | None = None,
        market_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        credentials: dict | None = None,
    ) -> list[Order]:
        params = {
            "exchange": exchange, "status": status, "market_id": market_id,
            "start_ts": to_unix_seconds(start), "end_ts": to_unix_seconds(end), "limit": limit,
        }
        _, data = self._request("GET", "/orders", params=params, customer_id=customer_id, exchange=exchange, credentials=credentials)
        return [Order.from_wire(o, exchange=exchange) for o in data or ()]

    def get_order(self, *, customer_id: str, exchange: str, order_id: str, credentials: dict | None = None) -> Order:
        _, data = self._request(
            "GET", "/orders/{order_id}", path_params={"order_id": order_id}, params={"exchange": exchange},
            customer_id=customer_id, exchange=exchange, credentials=credentials,
        )
        return Order.from_wire(data, exchange=exchange)

    def cancel_order(self, *, customer_id: str, exchange: str, order_id: str, credentials: dict | None = None) -> Order:
        """Retried only if the connection could not be opened (nothing was sent)."""
        _, data = self._request(
            "DELETE", "/orders/{order_id}", path_params={"order_id": order_id}, params={"exchange": exchange},
            customer_id=customer_id, exchange=exchange, credentials=credentials, retry=CONNECT_ONLY,
        )
        return Order.from_wire(data, exchange=exchange)

    # --- account (customer-scoped) ------------------------------------------------------

    def list_fills(self, *, customer_id: str, exchange: str, market_id: str | None = None, limit: int | None = None, credentials: dict | None = None) -> list[Fill]:
        _, data = self._request(
            "GET", "/fills", params={"exchange": exchange, "market_id": market_id, "limit": limit},
            customer_id=customer_id, exchange=exchange, credentials=credentials,
        )
        return [Fill.from_wire(f, exchange=exchange) for f in data or ()]

    def list_positions(self, *, customer_id: str, exchange: str, market_id: str | None = None, credentials: dict | None = None) -> list[Position]:
        _, data = self._request(
            "GET", "/positions", params={"exchange": exchange, "market_id": market_id},
            customer_id=customer_id, exchange=exchange, credentials=credentials,
        )
        return [Position.from_wire(p, exchange=exchange) for p in data or ()]

    def get_balance(self, *, customer_id: str, exchange: str, refresh: bool = False, credentials: dict | None = None) -> Balance:
        _, data = self._request(
            "GET", "/balance", params={"exchange": exchange, "refresh": "true" if refresh else None},
            customer_id=customer_id, exchange=exchange, credentials=credentials,
        )
        return Balance.from_wire(data, exchange=exchange)

    def ping(self, *, customer_id: str | None, exchange: str | None = None) -> list[PingResult]:
        """Exchange connectivity as the customer (``customer_id=None``: the builder's own account)."""
        _, data = self._request("GET", "/ping", params={"exchange": exchange}, customer_id=customer_id, exchange=exchange or "")
        return [PingResult.from_wire(p) for p in data or ()]

    # --- market data (never impersonated) ----------------------------------------------

    def list_markets(
        self,
        *,
        exchanges: list[str] | None = None,
        parsec_ids: list[str] | None = None,
        status: str | None = None,
        search: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> MarketPage:
        """One page of ``/markets``. ``parsec_ids`` (at most 100) fetches those markets whatever
        their status; Parsec then refuses any other filter, so none is sent with it."""
        if parsec_ids:
            if len(parsec_ids) > MARKETS_BATCH_MAX:
                raise ValueError(f"at most {MARKETS_BATCH_MAX} parsec_ids per call")
            if exchanges or status or search:
                raise ValueError("parsec_ids cannot be combined with other filters")
        params = {
            "exchanges": ",".join(exchanges) if exchanges else None,
            "parsec_ids": ",".join(parsec_ids) if parsec_ids else None,
            "status": status, "search": search, "limit": limit, "cursor": cursor,
        }
        _, data = self._request("GET", "/markets", params=params)
        pagination = data.get("pagination") or {}
        return MarketPage(
            markets=tuple(Market.from_wire(m) for m in data.get("markets") or ()),
            has_more=bool(pagination.get("has_more")),
            next_cursor=pagination.get("next_cursor") or None,
            total=pagination.get("total"),
        )

    def iter_markets(self, *, exchanges: list[str] | None = None, status: str | None = None, page_size: int = 100) -> Iterator[Market]:
        cursor = None
        while True:
            page = self.list_markets(exchanges=exchanges, status=status, limit=page_size, cursor=cursor)
            yield from page.markets
            if not page.has_more or not page.next_cursor or page.next_cursor == cursor:
                return
            cursor = page.next_cursor

    def get_orderbook(
        self, *, parsec_id: str | None = None, exchange: str | None = None, market_id: str | None = None, outcome: str | None = None, depth: int | None = None
    ) -> Orderbook:
        if not parsec_id and not (exchange and market_id):
            raise ValueError("give parsec_id, or exchange and market_id")
        params = {"parsec_id": parsec_id, "exchange": exchange, "market_id": market_id, "outcome": outcome, "limit": depth}
        _, data = self._request("GET", "/orderbook", params=params, exchange=exchange or "")
        return Orderbook.from_wire(data)

    def get_markets(self, *, parsec_ids: list[str]) -> list[Market]:
        """Markets by ``parsec_id``, whatever their status, in batches of at most 100."""
        found: list[Market] = []
        wanted = list(dict.fromkeys(parsec_ids))
        for start in range(0, len(wanted), MARKETS_BATCH_MAX):
            found.extend(self.list_markets(parsec_ids=wanted[start:start + MARKETS_BATCH_MAX], limit=MARKETS_BATCH_MAX).markets)
        return found

    def get_price_history(
        self, *, parsec_id: str, outcome: str | None = None, interval: str = "1h", start: datetime | None = None, end: datetime | None = None,
    ) -> PriceHistory:
        """``/price``: OHLCV candles of one outcome (Parsec's default window per interval when ``start`` is None)."""
        if interval not in PRICE_INTERVALS:
            raise ValueError(f"interval must be one of {sorted(PRICE_INTERVALS)}")
        params = {"parsec_id": parsec_id, "outcome": outcome, "interval": interval,
                  "start_ts": to_unix_seconds(start), "end_ts": to_unix_seconds(end)}
        _, data = self._request("GET", "/price", params=params)
        return PriceHistory.from_wire(data)

    def list_trades(
        self, *, parsec_id: str, outcome: str | None = None, limit: int = 50, cursor: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> TradePage:
        """``/trades``: an outcome's public trades, newest first."""
        params = {"parsec_id": parsec_id, "outcome": outcome, "limit": limit, "cursor": cursor,
                  "start_ts": to_unix_seconds(start), "end_ts": to_unix_seconds(end)}
        _, data = self._request("GET", "/trades", params=params)
        return TradePage.from_wire(data)

    def get_event(self, *, event_id: str) -> EventSummary | None:
        """``/events?event_id=``: one event with its markets, or None when Parsec lists none."""
        _, data = self._request("GET", "/events", params={"event_id": event_id, "include_markets": "true", "limit": 1})
        events = data.get("events") or ()
        return EventSummary.from_wire(events[0]) if events else None

    def get_execution_price(self, *, parsec_id: str, side: Side, amount: Decimal, outcome: str | None = None) -> ExecutionPrice:
        params = {"parsec_id": parsec_id, "side": side, "amount": str(amount), "outcome": outcome}
        _, data = self._request("GET", "/execution-price", params=params)
        return ExecutionPrice.from_wire(data)

    def list_exchanges(self) -> list[ExchangeInfo]:
        _, data = self._request("GET", "/exchanges")
        return [ExchangeInfo.from_wire(e) for e in data or ()]

    # --- sandbox only -----------------------------------------------------------------

    def sandbox_sign_fee_auth(self, *, address: str, fee_amount: int, order_id: str | None = None, deadline: int | None = None) -> SignedFeeAuth:
        """SANDBOX ONLY (rehearsal): ask the sandbox's demo wallet ``address`` to sign a
        PullFee authorisation. Real Parsec has no such endpoint; real users sign in their app."""
        body = {"fee_amount": str(int(fee_amount)), "order_id": order_id, "deadline": deadline}
        _, data = self._request(
            "POST", "/_sandbox/wallets/{address}/sign-fee-auth", path_params={"address": address},
            body={k: v for k, v in body.items() if v is not None}, prefix="", retry=NEVER,
            extra_headers=self._sandbox_headers(), rate_limited=False,
        )
        fee_auth = data.get("fee_auth", data)
        return SignedFeeAuth(
            fee_auth=FeeAuthorization(
                order_id=fee_auth["order_id"], payer=fee_auth["payer"], fee_amount=int(fee_auth["fee_amount"]),
                deadline=int(fee_auth["deadline"]), signature=fee_auth["signature"],
            ),
            raw={k: v for k, v in data.items() if k not in ("fee_auth", "signature")},
        )

    def _sandbox_headers(self) -> dict[str, str]:
        return {"X-Sandbox-Admin-Key": self._sandbox_admin_key} if self._sandbox_admin_key else {}


def _is_connect_failure(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never established (so nothing was sent)."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        args = getattr(current, "args", ())
        nested = next((a for a in args if isinstance(a, BaseException) and id(a) not in seen), None)
        current = nested or current.__cause__ or current.__context__
    return False


_clients: dict[tuple, ParsecClient] = {}
_clients_lock = threading.Lock()


def get_client() -> ParsecClient:
    """The process-wide client for the current settings (one pooled session per config)."""
    key = (
        settings.PARSEC_API_BASE_URL,
        settings.PARSEC_API_KEY,
        settings.PARSEC_CONNECT_TIMEOUT,
        settings.PARSEC_READ_TIMEOUT,
        settings.PARSEC_READ_RETRIES,
        settings.PARSEC_RETRY_MAX_BACKOFF,
        getattr(settings, "PARSEC_RETRY_BASE_BACKOFF", 0.25),
        getattr(settings, "PARSEC_HTTP_POOL_SIZE", 32),
        getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", ""),
    )
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = ParsecClient(
                    base_url=key[0], api_key=key[1], connect_timeout=key[2], read_timeout=key[3], read_retries=key[4],
                    max_backoff=key[5], backoff_base=key[6], pool_size=key[7], sandbox_admin_key=key[8],
                )
                _clients[key] = client
    return client


