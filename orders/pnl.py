"""Profit and loss from the mirrored fills (Parsec does not report P&L).

Average-cost method, per (exchange, market, outcome): a buy adds its size and cost to the
holding; a sell realises ``(sell price - average cost) * size`` and lowers the holding at the
same average. Unrealised P&L marks what is left at the position's current price (or the
market's last price). Exchange fees on fills are reported beside, not netted into the prices.
A sell larger than the holding the fills explain (history older than the mirror's window) is
not invented: the unexplained part realises nothing and the line is flagged ``incomplete``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from orders.models import Fill, Market, Position

ZERO = Decimal("0")
CENTS = Decimal("0.000001")


@dataclass
class PnlLine:
    exchange: str
    market_native_id: str
    outcome: str
    market_title: str = ""
    quantity: Decimal = ZERO
    average_cost: Decimal = ZERO
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    realised: Decimal = ZERO
    fees: Decimal = ZERO
    mark: Decimal | None = None
    incomplete: bool = False

    @property
    def unrealised(self) -> Decimal | None:
        if self.mark is None or not self.quantity:
            return ZERO if not self.quantity else None
        return ((self.mark - self.average_cost) * self.quantity).quantize(CENTS)

    @property
    def cost_basis(self) -> Decimal:
        return (self.quantity * self.average_cost).quantize(CENTS)


def apply_fill(line: PnlLine, *, side: str, price: Decimal, size: Decimal, fee: Decimal = ZERO) -> None:
    """Average-cost bookkeeping for one fill."""
    line.fees += fee
    if side == "buy":
        total_cost = line.average_cost * line.quantity + price * size
        line.quantity += size
        line.average_cost = total_cost / line.quantity if line.quantity else ZERO
        line.bought += size
        return
    line.sold += size
    matched = min(size, line.quantity)
    if matched < size:
        line.incomplete = True
    line.realised += (price - line.average_cost) * matched
    line.quantity -= matched
    if not line.quantity:
        line.average_cost = ZERO


def customer_pnl(*, customer, until: datetime | None = None) -> list[PnlLine]:
    """One line per outcome the customer traded, in time order of the fills."""
    fills = Fill.objects.filter(customer=customer)
    if until is not None:
        fills = fills.filter(created_at__lt=until)
    lines: dict[tuple[str, str, str], PnlLine] = {}
    for exchange, market_id, outcome, side, price, size, fee in fills.order_by("created_at", "id").values_list(
        "exchange", "market_native_id", "outcome", "side", "price", "size", "fee",
    ).iterator(chunk_size=2000):
        key = (exchange, market_id, outcome)
        line = lines.get(key) or lines.setdefault(key, PnlLine(exchange, market_id, outcome))
        apply_fill(line, side=side, price=price, size=size, fee=fee or ZERO)
    if not lines:
        return []
    marks = {
        (p.exchange, p.market_native_id, p.outcome): p.current_price
        for p in Position.objects.filter(customer=customer).only("exchange", "market_native_id", "outcome", "current_price")
    }
    markets = {
        (m.exchange, m.order_market_id): m
        for m in Market.objects.filter(order_market_id__in={k[1] for k in lines}).only(
            "exchange", "order_market_id", "question", "last_price", "outcomes")
    }
    for key, line in lines.items():
        line.realised = line.realised.quantize(CENTS)
        market = markets.get((key[0], key[1]))
        line.market_title = market.question if market else key[1]
        line.mark = marks.get(key)
        if line.mark is None and market is not None:
            line.mark = _market_price(market, key[2])
    return sorted(lines.values(), key=lambda pl: (pl.exchange, pl.market_title, pl.outcome))


def _market_price(market: Market, outcome: str) -> Decimal | None:
    for item in market.outcomes or ():
        if isinstance(item, dict) and item.get("name") == outcome and item.get("price") not in (None, ""):
            return Decimal(str(item["price"]))
    if market.last_price is not None and outcome.lower() == "yes":
        return market.last_price
    return None
