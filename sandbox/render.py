"""Rows → Parsec's JSON shapes (openapi.yaml components). Numbers go out as JSON numbers."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sandbox.models import Builder, Customer, MakerQuote, Market, Order, Outcome, Position, Wallet


def num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def wallet(row: Wallet | None) -> dict | None:
    if row is None:
        return None
    return {
        "eoa_address": row.eoa_address,
        "privy_wallet_id": row.privy_wallet_id,
        "wallet_type": row.wallet_type,
        "safe_address": row.safe_address,
        "chain_id": row.chain_id,
        "created_at": iso(row.created_at),
        "balances": None,
    }


def builder_fields(builder: Builder) -> dict:
    return {
        "fee_escrow_enabled": builder.fee_escrow_enabled,
        "fee_bps": builder.fee_bps,
        "affiliate_address": builder.affiliate_address,
    }


def user(customer: Customer, *, linked: list[str], primary_wallet: Wallet | None) -> dict:
    data = {
        "customer_id": str(customer.customer_id),
        "external_id": customer.external_id,
        "api_key": customer.api_key or "",
        "tier": customer.tier,
        "qps_limit": customer.qps_limit,
        "created_at": iso(customer.created_at),
        "linked_exchanges": linked,
        **builder_fields(customer.builder),
    }
    if primary_wallet is not None:
        data["wallet"] = wallet(primary_wallet)
    return data


def order(row: Order) -> dict:
    return order_values(row.order_id, row.market.order_market_id, row.outcome.name, row.side, row.price, row.size, row.filled,
                        row.status, row.created_at, row.updated_at)


def order_values(order_id, market_id, outcome, side, price, size, filled, status, created_at, updated_at) -> dict:
    """An Order from its column values (the list endpoints read rows, not instances)."""
    return {
        "id": order_id,
        "market_id": market_id,
        "outcome": outcome,
        "side": side,
        "price": num(price),
        "size": num(size),
        "filled": num(filled),
        "status": status,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
    }


def fill_values(fill_id, order_id, market_id, outcome, side, price, size, is_taker, fee, created_at) -> dict:
    """A Fill from its column values; ``fee`` in USDC base units."""
    return {
        "fill_id": fill_id,
        "order_id": order_id,
        "market_id": market_id,
        "outcome": outcome,
        "side": side,
        "price": num(price),
        "size": num(size),
        "is_taker": bool(is_taker),
        "fee": fee / 1_000_000,
        "created_at": iso(created_at),
    }


def position(row: Position) -> dict:
    return position_values(row.market.order_market_id, row.outcome.name, row.size, row.average_price, row.outcome.last_price, row.outcome.mid)


def position_values(market_id, outcome, size, average_price, last_price, mid) -> dict:
    """A Position from its column values; the current price is the last trade's, else the makers' mid."""
    return {
        "market_id": market_id,
        "outcome": outcome,
        "size": num(size),
        "average_price": num(average_price),
        "current_price": num(last_price if last_price is not None else mid),
    }


def last_trade_price(row: Outcome) -> Decimal:
    """The book's last trade, else the makers' fair price."""
    return row.last_price if row.last_price is not None else row.mid


def outcome_price(row: Outcome) -> Decimal:
    """An outcome's price: what a share paid once its market resolved or was voided (1 / 0, or
    1/N), else the last trade (Market.outcomes[].price, "last known price for this outcome")."""
    return row.final_price if row.final_price is not None else last_trade_price(row)


def market(row: Market, *, outcomes: list[Outcome], best: dict[int, tuple]) -> dict:
    first = outcomes[0]
    bid, ask = best.get(first.pk, (None, None))
    data = {
        "parsec_id": row.parsec_id,
        "parsec_group_id": row.parsec_group_id,
        "exchange": row.exchange,
        "exchange_market_id": row.exchange_market_id,
        "exchange_group_id": row.exchange_group_id,
        "slug": row.slug,
        "url": f"https://{row.exchange}.example/markets/{row.slug}",
        "question": row.question,
        "description": row.description,
        "rules": "Resolves per the sandbox control plane (POST /_sandbox/markets/{parsec_id}/resolve or /void).",
        "group_title": row.group_title,
        "status": row.status,
        "market_type": row.market_type,
        "outcome_count": len(outcomes),
        "outcomes": [_outcome(o) for o in outcomes],
        "last_price": num(last_trade_price(first)),
        "volume_total": float(row.volume_seed + row.volume_traded),
        "min_order_size": num(row.min_order_size),
        "tick_size": num(row.tick_size),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "end_date": iso(row.end_date),
        "xref": {"event_id": row.event_id},
    }
    if bid is not None:
        data["best_bid"] = num(bid)
    if ask is not None:
        data["best_ask"] = num(ask)
    if row.condition_id:
        data["condition_id"] = row.condition_id
    return data


def best_prices(outcome_ids) -> dict[int, tuple]:
    """Best bid and ask per book, customers' resting orders and makers' quotes together."""
    best: dict[int, list] = defaultdict(lambda: [None, None])
    rows = [(q.outcome_id, q.side, q.price) for q in MakerQuote.objects.filter(outcome_id__in=outcome_ids).only("outcome_id", "side", "price")]
    rows += list(Order.objects.filter(outcome_id__in=outcome_ids, status__in=Order.RESTING).values_list("outcome_id", "side", "price"))
    for outcome_id, side, price in rows:
        current = best[outcome_id]
        if side == "buy" and (current[0] is None or price > current[0]):
            current[0] = price
        if side == "sell" and (current[1] is None or price < current[1]):
            current[1] = price
    return {key: tuple(value) for key, value in best.items()}


def markets(rows: list[Market]) -> list[dict]:
    """Markets (their outcomes prefetched or not) with every book's best bid and ask read at once."""
    best = best_prices([o.pk for m in rows for o in m.outcomes.all()])
    return [market(m, outcomes=list(m.outcomes.all()), best=best) for m in rows]


def _outcome(row: Outcome) -> dict:
    data = {"name": row.name, "price": num(outcome_price(row))}
    if row.token_id:
        data["token_id"] = row.token_id
    return data
