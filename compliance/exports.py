"""Exports for compliance: a customer's activity over a date range, and a monthly statement.

The activity CSV is streamed (``StreamingHttpResponse`` over ``iterator(chunk_size)``), so a
large export neither times out nor sits in memory, and every cell a spreadsheet could read as
a formula is defused. Each export is itself written to the audit log before the first byte.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum

from audit.models import AuditEvent
from core.money import usdc_from_base_units
from customers.models import BalanceSnapshot, Customer
from orders.models import Fill, Order

CHUNK = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ACTIVITY_HEADER = ["kind", "at (UTC)", "reference", "exchange", "market", "outcome", "side", "price", "size",
                   "filled", "status", "notional (USDC)", "fee (USDC)", "actor", "detail"]
NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DecimalField(max_digits=32, decimal_places=16))


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ tab or CR gets a quote in front."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    return datetime.combine(start, time.min, tzinfo=UTC), datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


def escrow_model():
    """orders.FeeEscrowRecord once issue 6 has landed it; None before."""
    try:
        return apps.get_model("orders", "FeeEscrowRecord")
    except LookupError:
        return None


def escrow_rows(customer: Customer, since: datetime, until: datetime):
    """The customer's escrow records in the range (read field by field: the model is issue 6's)."""
    model = escrow_model()
    if model is None:
        return model, model
    names = {f.name for f in model._meta.get_fields()}
    if "customer" in names:
        scope = Q(customer=customer)
    elif "order" in names:
        scope = Q(order__customer=customer)
    elif "intent" in names:
        scope = Q(intent__customer=customer)
    else:
        return model, model
    stamp = next((n for n in ("created_at", "authorised_at", "updated_at") if n in names), None)
    qs = model.objects.filter(scope)
    if stamp:
        qs = qs.filter(**{f"{stamp}__gte": since, f"{stamp}__lt": until}).order_by(stamp, "pk")
    return qs, stamp


def activity_rows(*, customer: Customer, since: datetime, until: datetime) -> Iterator[list]:
    yield ACTIVITY_HEADER
    orders = (Order.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until)
              .annotate(value_usdc=NOTIONAL).select_related("placed_by_user").order_by("created_at", "id"))
    for o in orders.iterator(chunk_size=CHUNK):
        actor = o.placed_by_user.get_username() if o.placed_by_user_id else o.get_placed_by_display()
        yield ["order", o.created_at, o.parsec_order_id, o.exchange, o.market_native_id, o.outcome, o.side, o.price,
               o.size, o.filled, o.status, o.value_usdc.quantize(Decimal("0.000001")), "", actor, o.order_type]
    fills = Fill.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until).order_by("created_at", "id")
    for f in fills.iterator(chunk_size=CHUNK):
        yield ["fill", f.created_at, f.fill_id, f.exchange, f.market_native_id, f.outcome, f.side, f.price, f.size,
               "", "taker" if f.is_taker else "maker", (f.price * f.size).quantize(Decimal("0.000001")), f.fee, "",
               f"order {f.parsec_order_id}"]
    escrow, stamp = escrow_rows(customer, since, until)
    if escrow is not None:
        for record in escrow.iterator(chunk_size=CHUNK):
            yield ["escrow", getattr(record, stamp) if stamp else "", getattr(record, "fee_order_id", record.pk),
                   "polymarket", "", "", "", "", "", "", getattr(record, "state", getattr(record, "status", "")), "",
                   _escrow_fee(record), "", str(record)]
    events = (AuditEvent.objects.filter(customer_ref=str(customer.parsec_customer_id), at__gte=since, at__lt=until)
              .order_by("seq"))
    for e in events.iterator(chunk_size=CHUNK):
        yield ["operator action", e.at, f"audit #{e.seq}", "", "", "", "", "", "", "", e.outcome, "", "", e.actor_name,
               f"{e.action}: {e.reason}"[:500]]


def _escrow_fee(record) -> str:
    for name in ("fee_amount", "amount_base_units", "fee_base_units", "amount"):
        value = getattr(record, name, None)
        if isinstance(value, int):
            return str(usdc_from_base_units(value))
    return ""


def export_activity(*, actor, customer: Customer, start: date, end: date, reason: str = "") -> Iterator[str]:
    """Audit the export, then return the CSV lines (a generator the view streams)."""
    from audit.services import record_action

    if end < start:
        raise ValueError("The end date is before the start date.")
    since, until = day_range(start, end)
    record_action(actor=actor, action="export.activity", customer=customer, reason=reason,
                  request={"start": start.isoformat(), "end": end.isoformat()}, outcome=AuditEvent.Outcome.OK)
    return csv_lines(activity_rows(customer=customer, since=since, until=until))


# --- Monthly statement -----------------------------------------------------------------------


@dataclass
class Statement:
    customer: Customer
    month: date
    since: datetime
    until: datetime
    balances: list[dict] = field(default_factory=list)
    orders: dict = field(default_factory=dict)
    volume: list[dict] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    pnl: list = field(default_factory=list)
    realised_total: Decimal = Decimal("0")
    fees_total: Decimal = Decimal("0")


def month_bounds(month: date) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(nxt, time.min, tzinfo=UTC)


def _balance_at(customer: Customer, exchange: str, moment: datetime) -> BalanceSnapshot | None:
    return (BalanceSnapshot.objects.filter(customer=customer, exchange=exchange, taken_at__lt=moment)
            .order_by("-taken_at", "-id").first())


def monthly_statement(*, customer: Customer, month: date) -> Statement:
    from orders.pnl import customer_pnl

    since, until = month_bounds(month)
    statement = Statement(customer=customer, month=since.date(), since=since, until=until)
    exchanges = sorted(set(customer.exchange_links.values_list("exchange", flat=True))
                       | set(BalanceSnapshot.objects.filter(customer=customer).values_list("exchange", flat=True).distinct()))
    for exchange in exchanges:
        opening, closing = _balance_at(customer, exchange, since), _balance_at(customer, exchange, until)
        statement.balances.append({"exchange": exchange, "opening": opening.usdc if opening else None,
                                   "closing": closing.usdc if closing else None})
    orders = Order.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until)
    statement.orders = orders.aggregate(
        placed=Count("id"), filled=Count("id", filter=Q(status=Order.Status.FILLED)),
        cancelled=Count("id", filter=Q(status=Order.Status.CANCELLED)),
    )
    fills = Fill.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until)
    statement.volume = list(fills.values("exchange").annotate(
        fills=Count("id"), notional=Sum(NOTIONAL), fees=Sum("fee")).order_by("exchange"))
    statement.fills = list(fills.order_by("created_at", "id")[:1000])
    # Realised P&L of the month = realised up to the month's end - realised before it starts.
    before = {(pl.exchange, pl.market_native_id, pl.outcome): pl.realised for pl in customer_pnl(customer=customer, until=since)}
    lines = customer_pnl(customer=customer, until=until)
    for line in lines:
        line.month_realised = line.realised - before.get((line.exchange, line.market_native_id, line.outcome), Decimal("0"))
    statement.pnl = [line for line in lines if line.month_realised or line.quantity]
    statement.realised_total = sum((line.month_realised for line in lines), Decimal("0"))
    statement.fees_total = sum((row["fees"] or Decimal("0") for row in statement.volume), Decimal("0"))
    return statement


def statement_csv_rows(statement: Statement) -> Iterator[list]:
    c = statement.customer
    yield ["Monthly statement", statement.month.strftime("%Y-%m"), c.external_id, str(c.parsec_customer_id)]
    yield []
    yield ["Balances (USDC)", "exchange", "opening", "closing"]
    for row in statement.balances:
        yield ["", row["exchange"], row["opening"], row["closing"]]
    yield []
    yield ["Orders", "placed", "filled", "cancelled"]
    yield ["", statement.orders["placed"], statement.orders["filled"], statement.orders["cancelled"]]
    yield []
    yield ["Volume", "exchange", "fills", "notional (USDC)", "exchange fees (USDC)"]
    for row in statement.volume:
        yield ["", row["exchange"], row["fills"], (row["notional"] or 0), row["fees"] or 0]
    yield []
    yield ["P&L (average cost)", "exchange", "market", "outcome", "held", "average cost", "realised this month",
           "unrealised at mark"]
    for line in statement.pnl:
        yield ["", line.exchange, line.market_title, line.outcome, line.quantity.normalize(), line.average_cost.quantize(Decimal("0.0001")),
               line.month_realised, line.unrealised if line.unrealised is not None else "no mark"]
    yield ["", "", "", "", "", "total realised", statement.realised_total]
    yield []
    yield ["Fills", "at (UTC)", "fill id", "exchange", "market", "outcome", "side", "price", "size", "fee"]
    for f in statement.fills:
        yield ["", f.created_at, f.fill_id, f.exchange, f.market_native_id, f.outcome, f.side, f.price, f.size, f.fee]
