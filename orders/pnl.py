"""Profit and loss from the mirrored fills and settlements (Parsec does not report P&L).

Average-cost method, per (exchange, market, outcome), in USDC base units so that it adds up to
the balance: a buy adds its size and its cost (price x size, cut to the base unit as a fill's
cash is); a sell realises its proceeds minus the average cost of what it sold; a settlement is a
sale of the holding at its payout (``orders.Settlement``). Fees are kept beside, not netted into
the prices, so for a customer whose holdings have all been sold or settled,
Σ realised - Σ fees = the change of the balance. Unrealised P&L marks what is still held at the
position's current price (or the market's price for the outcome).

A sell larger than the holding the fills explain (history older than the mirror's window) is not
invented: the unexplained part realises nothing and the line is flagged ``incomplete``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from core.money import base_units_from_usdc, usdc_from_base_units
from orders.models import Fill, Market, Position, Settlement

ZERO = Decimal("0")
BASE_UNIT = Decimal("0.000001")
PRICE_QUANTUM = Decimal("0.00000001")


def fill_cash_units(price: Decimal, size: Decimal) -> int:
    """A fill's notional in USDC base units, cut toward zero (what moves in the balance)."""
    return base_units_from_usdc(price * size)


def settlement_units(size: Decimal, payout_per_share: Decimal) -> int:
    return base_units_from_usdc(size * payout_per_share)


@dataclass
class PnlLine:
    exchange: str
    market_native_id: str
    outcome: str
    market_title: str = ""
    market: Market | None = None
    quantity: Decimal = ZERO
    cost_units: int = 0
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    realised_units: int = 0
    fees_units: int = 0
    payout_units: int = 0
    settlement: Settlement | None = None
    mark: Decimal | None = None
    incomplete: bool = False
    # Parsec's own average price per share, as a position shows it (for the void rule "cost").
    listed_average: Decimal = ZERO
    last_fill_at: datetime | None = None
    events: list = field(default_factory=list, repr=False)

    @property
    def average_cost(self) -> Decimal:
        return (usdc_from_base_units(self.cost_units) / self.quantity).quantize(PRICE_QUANTUM) if self.quantity else ZERO

    @property
    def realised(self) -> Decimal:
        return usdc_from_base_units(self.realised_units)

    @property
    def fees(self) -> Decimal:
        return usdc_from_base_units(self.fees_units)

    @property
    def net_units(self) -> int:
        return self.realised_units - self.fees_units

    @property
    def cost_basis(self) -> Decimal:
        return usdc_from_base_units(self.cost_units)

    @property
    def unrealised(self) -> Decimal | None:
        if not self.quantity:
            return ZERO
        if self.mark is None:
            return None
        return (self.mark * self.quantity - self.cost_basis).quantize(BASE_UNIT, rounding=ROUND_DOWN)

    @property
    def is_settled(self) -> bool:
        return self.settlement is not None


def _take_cost(line: PnlLine, matched: Decimal) -> int:
    """The cost of ``matched`` of the held shares at the average; the last share takes the rest."""
    if matched >= line.quantity:
        return line.cost_units
    return int((Decimal(line.cost_units) * matched / line.quantity).to_integral_value(rounding=ROUND_HALF_EVEN))


def apply_fill(line: PnlLine, *, side: str, price: Decimal, size: Decimal, fee: Decimal = ZERO) -> None:
    """Average-cost bookkeeping for one fill."""
    cash = fill_cash_units(price, size)
    line.fees_units += base_units_from_usdc(fee or ZERO)
    if side == "buy":
        if line.quantity >= 0:
            # Parsec's own average (NOTES §12.6): size-weighted over buys, kept by sells.
            total = line.quantity + size
            line.listed_average = ((line.quantity * line.listed_average + size * price) / total).quantize(PRICE_QUANTUM)
        line.quantity += size
        line.cost_units += cash
        line.bought += size
        return
    line.sold += size
    matched = min(size, line.quantity)
    if matched < size:
        line.incomplete = True
    proceeds = cash if matched == size else int(Decimal(cash) * matched / size)
    taken = _take_cost(line, matched) if matched else 0
    line.realised_units += proceeds - taken
    line.cost_units -= taken
    line.quantity -= matched
    if not line.quantity:
        line.cost_units = 0
        line.listed_average = ZERO


def apply_settlement(line: PnlLine, settlement: Settlement) -> None:
    """The holding sold back at its payout: realises the payout minus the average cost."""
    line.settlement = settlement
    size, amount = settlement.size, settlement.amount_base_units
    matched = min(size, line.quantity)
    if matched < size:
        line.incomplete = True
    paid = amount if matched == size else int(Decimal(amount) * matched / size)
    taken = _take_cost(line, matched) if matched else 0
    line.payout_units += paid
    line.realised_units += paid - taken
    line.cost_units -= taken
    line.quantity -= matched
    if not line.quantity:
        line.cost_units = 0
        line.listed_average = ZERO


def ledger(fills: Iterable[tuple], settlements: Iterable[Settlement] = ()) -> dict[tuple[str, str, str], PnlLine]:
    """Lines keyed by (exchange, market_native_id, outcome) from fills given as
    (exchange, market_native_id, outcome, side, price, size, fee, created_at) in time order, and
    settlements (applied after every fill of their market, as Parsec settles a closed market)."""
    lines: dict[tuple[str, str, str], PnlLine] = {}
    for exchange, market_id, outcome, side, price, size, fee, created_at in fills:
        key = (exchange, market_id, outcome)
        line = lines.get(key) or lines.setdefault(key, PnlLine(exchange, market_id, outcome))
        apply_fill(line, side=side, price=price, size=size, fee=fee or ZERO)
        line.last_fill_at = created_at
    for settlement in sorted(settlements, key=lambda s: (s.settled_at, s.pk or 0)):
        key = (settlement.exchange, settlement.market_native_id, settlement.outcome)
        line = lines.get(key) or lines.setdefault(key, PnlLine(*key))
        apply_settlement(line, settlement)
    return lines


FILL_COLUMNS = ("exchange", "market_native_id", "outcome", "side", "price", "size", "fee", "created_at")


def customer_pnl(*, customer, until: datetime | None = None, exchange: str | None = None) -> list[PnlLine]:
    """One line per outcome the customer traded or had settled, up to ``until``."""
    fills = Fill.objects.filter(customer=customer)
    settlements = Settlement.objects.filter(customer=customer).select_related("market")
    if until is not None:
        fills = fills.filter(created_at__lt=until)
        settlements = settlements.filter(settled_at__lt=until)
    if exchange is not None:
        fills, settlements = fills.filter(exchange=exchange), settlements.filter(exchange=exchange)
    rows = fills.order_by("created_at", "id").values_list(*FILL_COLUMNS).iterator(chunk_size=2000)
    lines = ledger(rows, list(settlements))
    if not lines:
        return []
    marks = {
        (p.exchange, p.market_native_id, p.outcome): p.current_price
        for p in Position.objects.filter(customer=customer, is_open=True).only("exchange", "market_native_id", "outcome", "current_price")
    }
    markets = {
        (m.exchange, m.order_market_id): m
        for m in Market.objects.filter(order_market_id__in={k[1] for k in lines}).only(
            "exchange", "order_market_id", "question", "last_price", "outcomes", "status", "winning_outcome", "tick_size")
    }
    for key, line in lines.items():
        market = markets.get((key[0], key[1]))
        line.market = market
        line.market_title = market.question if market else key[1]
        line.mark = marks.get(key)
        if line.mark is None and market is not None:
            line.mark = market_price(market, key[2])
    return sorted(lines.values(), key=lambda pl: (pl.exchange, pl.market_title, pl.outcome))


def market_price(market: Market, outcome: str) -> Decimal | None:
    price = market.outcome_price(outcome)
    if price is not None:
        return price
    if market.last_price is not None and outcome.lower() == "yes":
        return market.last_price
    return None


def totals(lines: Iterable[PnlLine]) -> dict[str, int]:
    """Σ realised, Σ fees, Σ payouts and the net (realised - fees), in base units."""
    result = {"realised_units": 0, "fees_units": 0, "payout_units": 0}
    for line in lines:
        result["realised_units"] += line.realised_units
        result["fees_units"] += line.fees_units
        result["payout_units"] += line.payout_units
    result["net_units"] = result["realised_units"] - result["fees_units"]
    return result
