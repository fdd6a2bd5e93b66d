"""Plain values the gateway hands to the rest of the back-office.

Every result is a frozen dataclass: prices and sizes are ``Decimal`` (parsed from the
JSON text, never through float), USDC amounts in base units are ``int``, times are aware
UTC ``datetime``. ``raw`` is the payload as Parsec sent it (plain JSON types, ready for a
JSONField), minus secrets: an end-user's ``api_key`` is never kept (only its last four
characters, in ``api_key_last4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from core.money import base_units_from_usdc, usdc_from_base_units

Side = Literal["buy", "sell"]
OrderType = Literal["gtc", "ioc", "fok", "gtd"]
OrderStatus = Literal["pending", "open", "filled", "partially_filled", "cancelled", "rejected"]
OrderListStatus = Literal["open", "closed", "all"]

SECRET_KEYS = frozenset({"api_key", "private_key", "clob_api_key", "clob_api_secret", "clob_api_passphrase", "api_key_id", "credentials", "signature"})


def raw_payload(payload: Any) -> Any:
    """The payload as plain JSON values (storable in a JSONField), without secret keys.

    The client parses numbers as Decimal; here they become JSON numbers again, whose
    shortest repr is the text Parsec sent. Typed fields never go through this copy.
    """
    if isinstance(payload, dict):
        return {k: raw_payload(v) for k, v in payload.items() if k not in SECRET_KEYS}
    if isinstance(payload, list):
        return [raw_payload(v) for v in payload]
    if isinstance(payload, Decimal):
        return float(payload)
    return payload


def to_decimal(value: Any) -> Decimal | None:
    """JSON number or numeric string to Decimal; the client parses JSON floats as Decimal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        # Never reached for bodies parsed by the client (parse_float=Decimal); kept exact anyway.
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def to_datetime(value: Any) -> datetime | None:
    """RFC 3339 string or Unix seconds to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_unix_seconds(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetimes sent to Parsec must be timezone-aware")
    return int(value.timestamp())


def _last4(secret: str | None) -> str:
    return secret[-4:] if secret else ""


def _tuple(value: Any) -> tuple:
    return tuple(value or ())


# --- Builder ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenBalance:
    token: str
    balance: Decimal | None
    raw_balance: int | None
    decimals: int | None
    contract_address: str | None

    @classmethod
    def from_wire(cls, data: dict) -> TokenBalance:
        raw_balance = data.get("raw_balance")
        return cls(
            token=data.get("token", ""),
            balance=to_decimal(data.get("balance")),
            raw_balance=int(raw_balance) if raw_balance not in (None, "") else None,
            decimals=data.get("decimals"),
            contract_address=data.get("contract_address"),
        )


@dataclass(frozen=True)
class Wallet:
    eoa_address: str
    privy_wallet_id: str
    wallet_type: str
    safe_address: str | None
    chain_id: int | None
    created_at: datetime | None
    balances: tuple[TokenBalance, ...]

    @classmethod
    def from_wire(cls, data: dict | None) -> Wallet | None:
        if not data:
            return None
        return cls(
            eoa_address=data.get("eoa_address", ""),
            privy_wallet_id=data.get("privy_wallet_id", ""),
            wallet_type=data.get("wallet_type", ""),
            safe_address=data.get("safe_address"),
            chain_id=data.get("chain_id"),
            created_at=to_datetime(data.get("created_at")),
            balances=tuple(TokenBalance.from_wire(b) for b in data.get("balances") or ()),
        )


@dataclass(frozen=True)
class BuilderUser:
    """An end-user as Parsec reports it (create, get, list item, update).

    ``tier``, ``qps_limit`` and ``created_at`` are absent from the create response (None).
    ``created`` is True/False for a create call (201 new / 200 existing external_id), None otherwise.
    """

    customer_id: str
    external_id: str
    api_key_last4: str
    tier: str | None
    qps_limit: int | None
    created_at: datetime | None
    linked_exchanges: tuple[str, ...]
    wallet: Wallet | None
    fee_escrow_enabled: bool
    fee_bps: int | None
    affiliate_address: str | None
    status: str | None = None
    created: bool | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, created: bool | None = None) -> BuilderUser:
        return cls(
            customer_id=data["customer_id"],
            external_id=data.get("external_id", ""),
            api_key_last4=_last4(data.get("api_key")),
            tier=data.get("tier"),
            qps_limit=data.get("qps_limit"),
            created_at=to_datetime(data.get("created_at")),
            linked_exchanges=_tuple(data.get("linked_exchanges")),
            wallet=Wallet.from_wire(data.get("wallet")),
            fee_escrow_enabled=bool(data.get("fee_escrow_enabled", False)),
            fee_bps=data.get("fee_bps"),
            affiliate_address=data.get("affiliate_address"),
            status=data.get("status"),
            created=created,
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class BuilderUserPage:
    users: tuple[BuilderUser, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class OnboardResult:
    customer_id: str
    exchange: str
    mode: str
    status: str
    eoa_address: str | None
    safe_address: str | None
    linked_exchanges: tuple[str, ...]
    steps_completed: tuple[str, ...]
    wallet: Wallet | None
    fee_escrow_enabled: bool
    fee_bps: int | None
    affiliate_address: str | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> OnboardResult:
        return cls(
            customer_id=data.get("customer_id", ""),
            exchange=data.get("exchange", ""),
            mode=data.get("mode", ""),
            status=data.get("status", ""),
            eoa_address=data.get("eoa_address"),
            safe_address=data.get("safe_address"),
            linked_exchanges=_tuple(data.get("linked_exchanges")),
            steps_completed=_tuple(data.get("steps_completed")),
            wallet=Wallet.from_wire(data.get("wallet")),
            fee_escrow_enabled=bool(data.get("fee_escrow_enabled", False)),
            fee_bps=data.get("fee_bps"),
            affiliate_address=data.get("affiliate_address"),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class PoolStatus:
    qps_pool: int
    end_user_count: int
    total_allocated_qps: int
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> PoolStatus:
        return cls(
            qps_pool=int(data["qps_pool"]),
            end_user_count=int(data["end_user_count"]),
            total_allocated_qps=int(data["total_allocated_qps"]),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class EscrowConfig:
    fee_escrow_enabled: bool
    fee_bps: int | None
    affiliate_address: str | None
    escrow_contract_address: str
    min_fee_usdc: int  # base units (the spec's string "100000" = 0.10 USDC)
    min_fee_bps: int
    treasury_address: str
    affiliate_fee_bps: int
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> EscrowConfig:
        return cls(
            fee_escrow_enabled=bool(data["fee_escrow_enabled"]),
            fee_bps=data.get("fee_bps"),
            affiliate_address=data.get("affiliate_address"),
            escrow_contract_address=data.get("escrow_contract_address", ""),
            min_fee_usdc=int(data.get("min_fee_usdc") or 0),
            min_fee_bps=int(data.get("min_fee_bps") or 0),
            treasury_address=data.get("treasury_address", ""),
            affiliate_fee_bps=int(data.get("affiliate_fee_bps") or 0),
            raw=raw_payload(data),
        )


# --- Orders and account -------------------------------------------------------------


@dataclass(frozen=True)
class FeeAuthorization:
    """The EIP-712 ``PullFee`` authorisation sent as ``fee_auth`` on order creation.

    ``order_id`` is the builder's bytes32 (0x + 64 hex), not Parsec's order id. The
    signature is sent to Parsec and nowhere else: it is hidden from repr and never logged.
    """

    order_id: str
    payer: str
    fee_amount: int
    deadline: int
    signature: str = field(repr=False)

    def to_wire(self) -> dict:
        return {
            "order_id": self.order_id,
            "payer": self.payer,
            "fee_amount": str(int(self.fee_amount)),
            "deadline": int(self.deadline),
            "signature": self.signature,
        }


@dataclass(frozen=True)
class Order:
    id: str
    exchange: str
    market_id: str
    outcome: str
    side: str
    price: Decimal
    size: Decimal
    filled: Decimal
    status: str
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, exchange: str) -> Order:
        return cls(
            id=str(data["id"]),
            exchange=exchange,
            market_id=str(data["market_id"]),
            outcome=data["outcome"],
            side=data["side"],
            price=to_decimal(data["price"]),
            size=to_decimal(data["size"]),
            filled=to_decimal(data.get("filled")) or Decimal(0),
            status=data["status"],
            created_at=to_datetime(data.get("created_at")),
            updated_at=to_datetime(data.get("updated_at")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class Fill:
    fill_id: str
    order_id: str
    exchange: str
    market_id: str
    outcome: str
    side: str
    price: Decimal
    size: Decimal
    is_taker: bool
    fee: Decimal
    created_at: datetime | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, exchange: str) -> Fill:
        return cls(
            fill_id=str(data["fill_id"]),
            order_id=str(data.get("order_id") or ""),
            exchange=exchange,
            market_id=str(data["market_id"]),
            outcome=data["outcome"],
            side=data["side"],
            price=to_decimal(data["price"]),
            size=to_decimal(data["size"]),
            is_taker=bool(data.get("is_taker", False)),
            fee=to_decimal(data.get("fee")) or Decimal(0),
            created_at=to_datetime(data.get("created_at")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class Position:
    exchange: str
    market_id: str
    outcome: str
    size: Decimal
    average_price: Decimal
    current_price: Decimal | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict, *, exchange: str) -> Position:
        return cls(
            exchange=exchange,
            market_id=str(data["market_id"]),
            outcome=data["outcome"],
            size=to_decimal(data["size"]),
            average_price=to_decimal(data["average_price"]),
            current_price=to_decimal(data.get("current_price")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class Balance:
    """One exchange's cash balance in USDC base units (6 decimals).

    Polymarket reports micro-USDC as a string (already base units); Kalshi reports cents as an
    integer (x 10,000). Other exchanges: ``usdc_base_units`` is None, ``raw`` holds what came.
    """

    exchange: str
    usdc_base_units: int | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def usdc(self) -> Decimal | None:
        return usdc_from_base_units(self.usdc_base_units)

    @classmethod
    def from_wire(cls, data: dict, *, exchange: str) -> Balance:
        inner = (data or {}).get("raw") or {}
        value = inner.get("balance") if isinstance(inner, dict) else None
        units: int | None = None
        if value is not None:
            if exchange == "polymarket":
                units = int(Decimal(str(value)))
            elif exchange == "kalshi":
                units = base_units_from_usdc(Decimal(str(value)).scaleb(-2))  # cents
        return cls(exchange=exchange, usdc_base_units=units, raw=raw_payload(data))


@dataclass(frozen=True)
class PingResult:
    exchange: str
    has_credentials: bool
    authenticated: bool
    message: str
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> PingResult:
        return cls(
            exchange=data["exchange"],
            has_credentials=bool(data.get("has_credentials")),
            authenticated=bool(data.get("authenticated")),
            message=data.get("message", ""),
            raw=raw_payload(data),
        )


# --- Market data --------------------------------------------------------------------


@dataclass(frozen=True)
class MarketOutcome:
    name: str
    price: Decimal | None
    token_id: str | None


@dataclass(frozen=True)
class Market:
    parsec_id: str
    exchange: str
    exchange_market_id: str
    parsec_group_id: str | None
    exchange_group_id: str | None
    question: str
    group_title: str | None
    status: str
    market_type: str
    outcomes: tuple[MarketOutcome, ...]
    tick_size: Decimal | None
    min_order_size: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    last_price: Decimal | None
    volume_total: Decimal | None
    condition_id: str | None
    end_date: datetime | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> Market:
        return cls(
            parsec_id=data["parsec_id"],
            exchange=data["exchange"],
            exchange_market_id=str(data.get("exchange_market_id", "")),
            parsec_group_id=data.get("parsec_group_id"),
            exchange_group_id=data.get("exchange_group_id"),
            question=data.get("question", ""),
            group_title=data.get("group_title"),
            status=data.get("status", ""),
            market_type=data.get("market_type", ""),
            outcomes=tuple(
                MarketOutcome(name=o.get("name", ""), price=to_decimal(o.get("price")), token_id=o.get("token_id"))
                for o in data.get("outcomes") or ()
            ),
            tick_size=to_decimal(data.get("tick_size")),
            min_order_size=to_decimal(data.get("min_order_size")),
            best_bid=to_decimal(data.get("best_bid")),
            best_ask=to_decimal(data.get("best_ask")),
            last_price=to_decimal(data.get("last_price")),
            volume_total=to_decimal(data.get("volume_total")),
            condition_id=data.get("condition_id"),
            end_date=to_datetime(data.get("end_date")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class MarketPage:
    markets: tuple[Market, ...]
    has_more: bool
    next_cursor: str | None
    total: int | None


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class Orderbook:
    parsec_id: str | None
    exchange: str
    market_id: str | None
    outcome: str | None
    token_id: str | None
    bids: tuple[BookLevel, ...]  # best (highest) first
    asks: tuple[BookLevel, ...]  # best (lowest) first
    timestamp: datetime | None
    tick_size: Decimal | None
    min_order_size: Decimal | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> Orderbook:
        def levels(rows):
            return tuple(BookLevel(price=to_decimal(p), size=to_decimal(s)) for p, s in rows or ())

        return cls(
            parsec_id=data.get("parsec_id"),
            exchange=data.get("exchange", ""),
            market_id=data.get("market_id"),
            outcome=data.get("outcome"),
            token_id=data.get("token_id"),
            bids=levels(data.get("bids")),
            asks=levels(data.get("asks")),
            timestamp=to_datetime(data.get("timestamp")),
            tick_size=to_decimal(data.get("tick_size")),
            min_order_size=to_decimal(data.get("min_order_size")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class Candle:
    timestamp: datetime | None  # the period's start (UTC)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True)
class PriceHistory:
    """``/price``: OHLCV candles of one outcome, oldest first."""

    parsec_id: str
    exchange: str
    outcome: str | None
    interval: str
    candles: tuple[Candle, ...]
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> PriceHistory:
        candles = tuple(
            Candle(timestamp=to_datetime(c.get("timestamp")), open=to_decimal(c.get("open")), high=to_decimal(c.get("high")),
                   low=to_decimal(c.get("low")), close=to_decimal(c.get("close")), volume=to_decimal(c.get("volume")) or Decimal(0))
            for c in data.get("candles") or ()
        )
        return cls(parsec_id=data.get("parsec_id", ""), exchange=data.get("exchange", ""), outcome=data.get("outcome"),
                   interval=data.get("interval", ""), candles=tuple(sorted(candles, key=lambda c: c.timestamp or datetime.min.replace(tzinfo=UTC))),
                   raw=raw_payload(data))


@dataclass(frozen=True)
class PublicTrade:
    id: str | None
    price: Decimal
    size: Decimal
    side: str | None
    timestamp: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class TradePage:
    """``/trades``: public trades of one outcome, newest first."""

    parsec_id: str
    exchange: str
    outcome: str | None
    trades: tuple[PublicTrade, ...]
    has_more: bool
    next_cursor: str | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> TradePage:
        trades = tuple(
            PublicTrade(id=t.get("id"), price=to_decimal(t.get("price")), size=to_decimal(t.get("size")),
                        side=t.get("aggressor_side") or t.get("side"), timestamp=to_datetime(t.get("timestamp")),
                        outcome=t.get("outcome"))
            for t in data.get("trades") or ()
        )
        return cls(parsec_id=data.get("parsec_id", ""), exchange=data.get("exchange", ""), outcome=data.get("outcome"),
                   trades=trades, has_more=bool(data.get("has_more")), next_cursor=data.get("next_cursor") or None,
                   raw=raw_payload(data))


@dataclass(frozen=True)
class EventSummary:
    """``/events``: one event (markets grouped across exchanges)."""

    event_id: str
    title: str
    market_count: int
    total_volume: Decimal | None
    exchanges: tuple[str, ...]
    status: str
    close_time: datetime | None
    markets: tuple[Market, ...]
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> EventSummary:
        return cls(
            event_id=data.get("event_id", ""), title=data.get("title", ""), market_count=int(data.get("market_count") or 0),
            total_volume=to_decimal(data.get("total_volume")), exchanges=_tuple(data.get("exchanges")),
            status=data.get("status", ""), close_time=to_datetime(data.get("close_time")),
            markets=tuple(Market.from_wire(m) for m in data.get("markets") or ()), raw=raw_payload(data),
        )


@dataclass(frozen=True)
class ExecutionPrice:
    avg_price: Decimal | None
    total_cost: Decimal
    filled_amount: Decimal
    fully_filled: bool
    slippage: Decimal | None
    levels_consumed: int
    worst_price: Decimal | None
    fee_estimate: Decimal | None
    net_cost: Decimal | None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> ExecutionPrice:
        return cls(
            avg_price=to_decimal(data.get("avg_price")),
            total_cost=to_decimal(data.get("total_cost")) or Decimal(0),
            filled_amount=to_decimal(data.get("filled_amount")) or Decimal(0),
            fully_filled=bool(data.get("fully_filled")),
            slippage=to_decimal(data.get("slippage")),
            levels_consumed=int(data.get("levels_consumed") or 0),
            worst_price=to_decimal(data.get("worst_price")),
            fee_estimate=to_decimal(data.get("fee_estimate")),
            net_cost=to_decimal(data.get("net_cost")),
            raw=raw_payload(data),
        )


@dataclass(frozen=True)
class ExchangeInfo:
    id: str
    name: str
    has: dict[str, bool]
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, data: dict) -> ExchangeInfo:
        return cls(id=data["id"], name=data.get("name", ""), has=dict(data.get("has") or {}), raw=raw_payload(data))


# --- Sandbox-only rehearsal -----------------------------------------------------------


@dataclass(frozen=True)
class SignedFeeAuth:
    """What the sandbox's demo wallet signed (sandbox only; real wallets sign in the user's app)."""

    fee_auth: FeeAuthorization
    raw: dict = field(default_factory=dict, compare=False, repr=False)
