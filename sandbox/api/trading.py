"""Private endpoints: orders, fills, positions, balance, ping, wallet, onboard, usage, user-activity.

They act for ``ctx.customer``: the impersonated end-user, or the key's own account.
Order creation checks in the order of NOTES §12.4; the first failing check answers.
"""

# Statements are built from model metadata (table and column names) only; every value is a parameter.
# ruff: noqa: S608

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox import accounts, clock, conf, engine, ratelimit, render, sql
from sandbox import usage as stream_usage
from sandbox.errors import ParsecAPIError, bad_request, decimal_or_400, missing_parameter, not_supported
from sandbox.models import EXCHANGES, EXCHANGES_DATA_ONLY, Balance, Fill, Market, Order, Outcome, Position, Wallet

ORDER_TYPES = ("gtc", "ioc", "fok", "gtd")
SUPPORTED_TYPES = {"polymarket": {"gtc", "ioc", "fok", "gtd"}, "kalshi": {"gtc", "ioc"}}
TWO_PLACES = Decimal("0.01")


def trading_exchange(ctx) -> str:
    exchange = ctx.query.get("exchange")
    if not exchange:
        raise missing_parameter("exchange parameter is required")
    exchange = exchange.strip().lower()
    if exchange not in EXCHANGES:
        raise ParsecAPIError(404, "exchange_not_found", f"exchange not found: {exchange}")
    if exchange in EXCHANGES_DATA_ONLY:
        raise not_supported(f"{exchange} is data-only: trading is not supported")
    return exchange


def _credentials(ctx, exchange: str, *, body_credentials=None, for_orders: bool = False) -> None:
    accounts.check_credentials(
        customer=ctx.customer, exchange=exchange, header=ctx.request.headers.get("X-Exchange-Credentials"),
        body_credentials=body_credentials, for_orders=for_orders,
    )


_MARKET = sql.Loader(Market)
_OUTCOME = sql.Loader(Outcome)
# A market and its outcomes (ordered by index) in one statement.
_MARKET_SQL = (
    f"SELECT {_MARKET.columns('m')}, {_OUTCOME.columns('o')} FROM {_MARKET.table} m "
    f"LEFT JOIN {_OUTCOME.table} o ON o.market_id = m.id WHERE m.exchange = %s AND m.{{column}} = %s ORDER BY o.{_OUTCOME.col('index')}"
)


def find_market_outcomes(exchange: str, market_id: str) -> tuple[Market | None, list[Outcome]]:
    """Orders name a market by its order id (Kalshi ticker, Polymarket condition id); the
    Polymarket numeric exchange_market_id is accepted as an alias (the sources disagree, NOTES §1).
    Returns the market and its outcomes (each with ``.market`` set)."""
    for column in ("order_market_id", "exchange_market_id"):
        rows = sql.fetch(_MARKET_SQL.format(column=_MARKET.col(column)), [exchange, market_id])
        if rows:
            market = _MARKET.make(rows[0])
            outcomes = [outcome for outcome in (_OUTCOME.make(row, _MARKET.width) for row in rows) if outcome is not None]
            for outcome in outcomes:
                outcome.market = market
            return market, outcomes
    return None, []


def find_market(exchange: str, market_id: str) -> Market | None:
    return find_market_outcomes(exchange, market_id)[0]


def create_order(ctx):
    exchange = trading_exchange(ctx)
    body = ctx.body
    _credentials(ctx, exchange, body_credentials=body.get("credentials"), for_orders=True)
    for name in ("market_id", "outcome", "side", "price", "size"):
        if body.get(name) is None:
            raise missing_parameter(f"{name} is required")
    for name in ("market_id", "outcome"):
        if not isinstance(body[name], str) or not body[name].strip():
            raise bad_request(f"{name} must be a non-empty string")
    side = body["side"]
    if side not in ("buy", "sell"):
        raise bad_request("side must be 'buy' or 'sell'")
    price, size = decimal_or_400(body["price"], "price"), decimal_or_400(body["size"], "size")
    params = body.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise bad_request("params must be an object of strings")
    fee_auth = body.get("fee_auth")
    if fee_auth is not None and not isinstance(fee_auth, dict):
        raise bad_request("fee_auth must be an object")
    for name in ("payer_address", "signer_address", "affiliate"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise bad_request(f"{name} must be a string")

    order_type = params.get("order_type", "gtc").strip().lower()
    if order_type not in ORDER_TYPES:
        raise bad_request(f"order_type must be one of {', '.join(ORDER_TYPES)}")
    if order_type not in SUPPORTED_TYPES[exchange]:
        raise not_supported(f"order_type {order_type} is not supported on {exchange}")
    expiration = None
    if order_type == "gtd":
        raw = params.get("expiration")
        if raw is None:
            raise missing_parameter("expiration is required for gtd orders")
        try:
            expiration = datetime.fromtimestamp(int(raw), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise bad_request("expiration must be Unix seconds") from None
        if expiration < clock.now() + timedelta(seconds=conf.SANDBOX_GTD_MIN_SECONDS):
            raise bad_request(f"expiration must be at least {conf.SANDBOX_GTD_MIN_SECONDS} seconds in the future")

    market, outcomes = find_market_outcomes(exchange, body["market_id"].strip())
    if market is None:
        raise ParsecAPIError(404, "market_not_found", f"market not found: {body['market_id']}")
    if market.status != "active":
        raise bad_request(f"market is {market.status}, not active: trading has ended")
    outcome = engine._find_outcome(outcomes, body["outcome"]) if not body["outcome"].strip().isdigit() else None
    if outcome is None:
        names = ", ".join(o.name for o in outcomes)
        raise bad_request(f"outcome must be one of: {names}")

    banded = market.market_type == "binary" or conf.SANDBOX_CATEGORICAL_PRICE_BAND
    low, high = (engine.MIN_PRICE, engine.MAX_PRICE) if banded else (market.tick_size, 1 - market.tick_size)
    if not low <= price <= high:
        raise bad_request(f"price must be between {low} and {high}")
    if price % market.tick_size != 0:
        raise bad_request(f"price must be a multiple of the tick size {market.tick_size}")
    if size <= 0 or size != size.quantize(TWO_PLACES):
        raise bad_request("size must be positive with at most 2 decimal places")
    if size < market.min_order_size:
        raise bad_request(f"size must be at least the minimum order size {market.min_order_size}")
    if size > Decimal("10000000"):
        raise bad_request("size is too large")

    order = engine.place_order(engine.NewOrder(
        customer=ctx.customer, exchange=exchange, market=market, outcome=outcome, side=side,
        price=price, size=size, order_type=order_type, expiration=expiration, impersonated=ctx.impersonated,
        fee_auth=fee_auth, payer_address=body.get("payer_address"), signer_address=body.get("signer_address"),
        builder=ctx.caller.builder if ctx.impersonated else None,
    ))
    order.market, order.outcome = market, outcome
    return 200, render.order(order)


def _ts(ctx, name: str) -> datetime | None:
    raw = ctx.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise bad_request(f"{name} must be Unix seconds") from None


def _limit(ctx, default: int, high: int) -> int:
    raw = ctx.query.get("limit")
    if raw in (None, ""):
        return default
    try:
        return min(max(int(raw), 1), high)
    except ValueError:
        raise bad_request("limit must be an integer") from None


# The read endpoints a sync calls for every customer (orders, fills, positions) run prebuilt
# joins and render from the row values: building the ORM query cost more than SQLite's work.
_ORDER_COLUMNS = sql.Loader(Order, ("order_id", "side", "price", "size", "filled", "status", "created_at", "updated_at"))
_FILL_COLUMNS = sql.Loader(Fill, ("fill_id", "side", "price", "size", "is_taker", "fee", "created_at"))
_POSITION_COLUMNS = sql.Loader(Position, ("size", "average_price"))
_OUTCOME_PRICES = sql.Loader(Outcome, ("last_price", "mid"))
_M_ID, _O_NAME = f"m.{_MARKET.col('order_market_id')}", f"o.{_OUTCOME.col('name')}"
_ORDERS_SQL = (f"SELECT {_ORDER_COLUMNS.columns('t')}, {_M_ID}, {_O_NAME} FROM {_ORDER_COLUMNS.table} t "
               f"JOIN {_MARKET.table} m ON m.id = t.market_id JOIN {_OUTCOME.table} o ON o.id = t.outcome_id")
_FILLS_SQL = (f"SELECT {_FILL_COLUMNS.columns('t')}, r.{_ORDER_COLUMNS.col('order_id')}, {_M_ID}, {_O_NAME} FROM {_FILL_COLUMNS.table} t "
              f"JOIN {_ORDER_COLUMNS.table} r ON r.id = t.order_id "
              f"JOIN {_MARKET.table} m ON m.id = t.market_id JOIN {_OUTCOME.table} o ON o.id = t.outcome_id")
_POSITIONS_SQL = (f"SELECT {_M_ID}, {_O_NAME}, {_POSITION_COLUMNS.columns('t')}, {_OUTCOME_PRICES.columns('o')} FROM {_POSITION_COLUMNS.table} t "
                  f"JOIN {_MARKET.table} m ON m.id = t.market_id JOIN {_OUTCOME.table} o ON o.id = t.outcome_id")


def _read(select: str, where: list[str], params: list, *, order_by: str, limit: int | None = None) -> list[tuple]:
    statement = f"{select} WHERE {' AND '.join(where)} ORDER BY {order_by}"
    if limit is not None:
        statement += " LIMIT %s"
        params = [*params, limit]
    return sql.fetch(statement, params)


def _market_where(ctx, exchange: str, where: list[str], params: list) -> bool:
    """Add the ``market_id`` query filter; False when it names no market (an empty answer)."""
    market_id = ctx.query.get("market_id")
    if not market_id:
        return True
    market = find_market(exchange, market_id)
    if market is None:
        return False
    where.append("t.market_id = %s")
    params.append(market.pk)
    return True


def list_orders(ctx):
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    status = ctx.query.get("status", "open")
    where, params = ["t.customer_id = %s", "t.exchange = %s"], [ctx.customer.pk, exchange]
    if status in ("open", "closed"):
        statuses = list(Order.LIVE if status == "closed" or conf.SANDBOX_OPEN_ORDERS_INCLUDE_PENDING else Order.RESTING)
        where.append(f"t.status {'NOT ' if status == 'closed' else ''}IN ({', '.join(['%s'] * len(statuses))})")
        params.extend(statuses)
    elif status != "all":
        raise bad_request("status must be open, closed or all")
    for name, operator in (("start_ts", ">="), ("end_ts", "<=")):
        moment = _ts(ctx, name)
        if moment:
            where.append(f"t.created_at {operator} %s")
            params.append(sql.prep(Order, "created_at", moment))
    if not _market_where(ctx, exchange, where, params):
        return 200, []
    rows = _read(_ORDERS_SQL, where, params, order_by="t.created_at DESC, t.id DESC", limit=_limit(ctx, 100, 500))
    return 200, [_order_json(row) for row in rows]


def _order_json(row: tuple) -> dict:
    _pk, order_id, side, price, size, filled, status, created_at, updated_at = _ORDER_COLUMNS.values(row)
    market_id, outcome = row[_ORDER_COLUMNS.width:]
    return render.order_values(order_id, market_id, outcome, side, price, size, filled, status, created_at, updated_at)


def _own_order(ctx, exchange: str, order_id: str) -> Order:
    order = Order.objects.select_related("market", "outcome").filter(order_id=order_id, customer=ctx.customer, exchange=exchange).first()
    if order is None:
        raise ParsecAPIError(404, "order_not_found", f"order not found: {order_id}")
    return order


def get_order(ctx, order_id):
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    return 200, render.order(_own_order(ctx, exchange, order_id))


def cancel_order(ctx, order_id):
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    order = engine.cancel_order(order=_own_order(ctx, exchange, order_id))
    return 200, render.order(order)


def list_fills(ctx):
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    where, params = ["t.customer_id = %s", "t.exchange = %s"], [ctx.customer.pk, exchange]
    if not _market_where(ctx, exchange, where, params):
        return 200, []
    rows = _read(_FILLS_SQL, where, params, order_by="t.created_at DESC, t.id DESC", limit=_limit(ctx, 100, 1000))
    return 200, [_fill_json(row) for row in rows]


def _fill_json(row: tuple) -> dict:
    _pk, fill_id, side, price, size, is_taker, fee, created_at = _FILL_COLUMNS.values(row)
    order_id, market_id, outcome = row[_FILL_COLUMNS.width:]
    return render.fill_values(fill_id, order_id, market_id, outcome, side, price, size, is_taker, fee, created_at)


def list_positions(ctx):
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    where, params = ["t.customer_id = %s", "m.exchange = %s", "t.size <> %s"], [ctx.customer.pk, exchange, sql.prep(Position, "size", Decimal(0))]
    if not _market_where(ctx, exchange, where, params):
        return 200, []
    rows = _read(_POSITIONS_SQL, where, params, order_by="t.id")
    return 200, [_position_json(row) for row in rows]


def _position_json(row: tuple) -> dict:
    market_id, outcome = row[:2]
    _pk, size, average_price = _POSITION_COLUMNS.values(row, 2)
    _pk, last_price, mid = _OUTCOME_PRICES.values(row, 2 + _POSITION_COLUMNS.width)
    return render.position_values(market_id, outcome, size, average_price, last_price, mid)


MAX_ALLOWANCE = str(2**256 - 1)


def balance(ctx):
    """Spendable USDC (reservations of resting buys excluded), in each exchange's raw shape."""
    exchange = trading_exchange(ctx)
    _credentials(ctx, exchange)
    rows = sql.fetch(f"SELECT available FROM {Balance._meta.db_table} WHERE customer_id = %s AND exchange = %s", [ctx.customer.pk, exchange])
    available = int(rows[0][0]) if rows else 0
    if exchange == "polymarket":
        return 200, {"raw": {"balance": str(available), "allowance": MAX_ALLOWANCE}}
    return 200, {"raw": {"balance": available // 10_000}}


def ping(ctx):
    wanted = ctx.query.get("exchange")
    if wanted and wanted.lower() not in EXCHANGES:
        raise ParsecAPIError(404, "exchange_not_found", f"exchange not found: {wanted}")
    links = {link.exchange: link for link in ctx.customer.exchange_links.all()}
    header = bool(ctx.request.headers.get("X-Exchange-Credentials"))
    result = []
    for exchange in [wanted.lower()] if wanted else EXCHANGES:
        has = header or (exchange in links and links[exchange].has_credentials)
        result.append({"exchange": exchange, "has_credentials": has, "authenticated": has,
                       "message": "authenticated" if has else "not authenticated"})
    return 200, result


def wallet_state(ctx):
    wallets = list(Wallet.objects.filter(customer=ctx.customer, active=True).order_by("pk"))
    links = ctx.customer.exchange_links.order_by("exchange")
    data = {
        "wallets": [render.wallet(w) for w in wallets],
        "linked_exchanges": [{"exchange": link.exchange, "has_credentials": link.has_credentials} for link in links],
    }
    if wallets:
        data["wallet"] = render.wallet(wallets[0])
    return 200, data


def trader_onboard(ctx):
    if ctx.customer.builder is None:
        raise bad_request("this account cannot be onboarded")
    result = accounts.onboard(customer=ctx.customer, body=ctx.body)
    keys = ("exchange", "mode", "status", "eoa_address", "safe_address", "linked_exchanges", "steps_completed")
    return 200, {key: result[key] for key in keys}


TIER_LIMITS = {
    "free": {"monthly_requests": 50_000, "rest_qps": 10, "rest_qps_burst": 10, "ws_max_subscriptions": 5, "ws_max_depth": 10, "history_max_age_days": 5},
    "pro": {"monthly_requests": 5_000_000, "rest_qps": 60, "rest_qps_burst": 120, "ws_max_subscriptions": 500, "ws_max_depth": 100, "history_max_age_days": 30},
    "scale": {"monthly_requests": 0, "rest_qps": 200, "rest_qps_burst": 400, "ws_max_subscriptions": 2000, "ws_max_depth": 100, "history_max_age_days": 0},
}


def usage(ctx):
    now = clock.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    counter = getattr(ratelimit, "monthly_requests", None)
    return 200, {
        "tier": ctx.customer.tier,
        "billing_period_start": int(start.timestamp()),
        "billing_period_end": int(end.timestamp()),
        "limits": TIER_LIMITS.get(ctx.customer.tier, TIER_LIMITS["free"]),
        "usage": {"monthly_requests": int(counter(ctx.customer, now)) if counter else 0,
                  **stream_usage.active(str(ctx.customer.customer_id))},
    }


ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def user_activity(ctx):
    address = ctx.query.get("address")
    if not address:
        raise missing_parameter("address parameter is required")
    if not ADDRESS.match(address):
        raise bad_request("address must be a 0x-prefixed 40-hex-digit address")
    limit = _limit(ctx, 100, 1000)
    wanted = [e.strip().lower() for e in ctx.query.get("exchanges", "polymarket,opinion,limitless,predictfun").split(",") if e.strip()]
    exchanges, status = {}, {}
    for exchange in wanted:
        if exchange not in EXCHANGES:
            status[exchange] = {"success": False, "error": f"unknown exchange: {exchange}"}
        elif exchange == "kalshi":
            status[exchange] = {"success": False, "error": "kalshi activity is not address-based"}
        elif exchange == "polymarket":
            owners = set(Wallet.objects.filter(eoa_address__iexact=address).values_list("customer_id", flat=True))
            owners |= set(Wallet.objects.filter(safe_address__iexact=address).values_list("customer_id", flat=True))
            positions = Position.objects.filter(market__exchange="polymarket", customer_id__in=owners).exclude(size=0)
            rows = [render.position(p) for p in positions.select_related("market", "outcome")[:limit]]
            value = sum(Decimal(str(r["size"])) * Decimal(str(r["current_price"])) for r in rows)
            exchanges[exchange] = {"positions": rows, "value": {"total": float(value)}}
            status[exchange] = {"success": True}
        else:
            exchanges[exchange] = {"positions": []}
            status[exchange] = {"success": True}
    return 200, {"exchanges": exchanges, "status": status}
