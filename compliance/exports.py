"""Exports for compliance: a customer's activity over a date range, and a monthly statement.

The activity CSV is streamed (``StreamingHttpResponse`` over ``iterator(chunk_size)``), so a
large export neither times out nor sits in memory, and every cell a spreadsheet could read as
a formula is defused. Each export is itself written to the audit log before the first byte.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q

from audit.models import AuditEvent
from core import formatting
from core.money import base_units_from_usdc, usdc_from_base_units
from customers.enums import Exchange
from customers.models import BalanceSnapshot, Customer
from orders.models import Fill, Order

CHUNK = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ACTIVITY_HEADER = ["kind", "at (UTC)", "reference", "exchange", "market", "outcome", "side", "price", "size",
                   "filled", "status", "notional (USDC)", "fee (USDC)", "actor", "detail"]
NOTIONAL = ExpressionWrapper(F("price") * F("size"), output_field=DecimalField(max_digits=32, decimal_places=16))


PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def safe_cell(value) -> str:
    """A CSV cell: numbers in plain decimal notation (``core.formatting.plain``: no ``E+``, no
    ``0E-8``, a negative stays a number); text a spreadsheet could read as a formula (a leading
    = + - @ tab or CR) gets a quote in front."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return formatting.plain(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if PLAIN_NUMBER.match(text):
        return text
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
    plain = formatting.plain
    orders = (Order.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until)
              .annotate(value_usdc=NOTIONAL).select_related("placed_by_user", "market").order_by("created_at", "id"))
    for o in orders.iterator(chunk_size=CHUNK):
        actor = o.placed_by_user.get_username() if o.placed_by_user_id else o.get_placed_by_display()
        yield ["order", o.created_at, o.parsec_order_id, o.exchange, o.market_title, o.outcome, o.side, plain(o.price),
               plain(o.size), plain(o.filled), o.status, plain(o.value_usdc.quantize(Decimal("0.000001"))), "", actor, o.order_type]
    fills = Fill.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until).select_related("market").order_by("created_at", "id")
    for f in fills.iterator(chunk_size=CHUNK):
        yield ["fill", f.created_at, f.fill_id, f.exchange, f.market_title, f.outcome, f.side, plain(f.price), plain(f.size),
               "", "taker" if f.is_taker else "maker", plain((f.price * f.size).quantize(Decimal("0.000001"))), plain(f.fee), "",
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
#
# Per customer, per exchange, per month. The balance is what Parsec reported at a read (the
# mirror's balance history: a snapshot when it moved), so the statement reconciles between two
# reads: the last one before the month (or, when the history starts inside the month, its first)
# and the last one before the month's end. Everything that moved the balance between them is a
# movement: fills (cash), the exchange's fees, the builder's escrow fees and their refunds,
# settlements. opening + movements - closing must be zero; Kalshi reports whole cents, so a
# difference under a cent there is its rounding, shown on its own line.

KALSHI_CENT_UNITS = 10_000


@dataclass
class StatementFill:
    fill: Fill
    market_title: str
    cash_units: int  # + for a sale, - for a purchase
    fee_units: int
    reconciled: bool  # between the two balance reads

    def __getattr__(self, name):
        return getattr(self.fill, name)


@dataclass
class ExchangeStatement:
    exchange: str
    since: datetime
    until: datetime
    opening_units: int | None = None
    opening_at: datetime | None = None
    opening_note: str = ""
    closing_units: int | None = None
    closing_at: datetime | None = None
    closing_note: str = ""
    fills: list[StatementFill] = field(default_factory=list)
    settlements: list = field(default_factory=list)
    bought_units: int = 0
    sold_units: int = 0
    fees_units: int = 0
    escrow_fees_units: int = 0
    escrow_refunds_units: int = 0
    settlements_units: int = 0
    outside_units: int = 0  # movements of the month after the closing read (next month's)
    realised_units: int = 0
    open_positions: list = field(default_factory=list)
    rounding_units: int = 0
    reconciliation_units: int | None = None

    @property
    def label(self) -> str:
        return dict(Exchange.choices).get(self.exchange, self.exchange)

    @property
    def movements_units(self) -> int:
        return (self.sold_units - self.bought_units - self.fees_units - self.escrow_fees_units + self.escrow_refunds_units
                + self.settlements_units)

    @property
    def bought_out_units(self) -> int:
        return -self.bought_units

    @property
    def fees_out_units(self) -> int:
        return -self.fees_units

    @property
    def escrow_out_units(self) -> int:
        return -self.escrow_fees_units

    @property
    def reconciles(self) -> bool:
        return self.reconciliation_units == 0


@dataclass
class Statement:
    customer: Customer
    month: date
    since: datetime
    until: datetime
    exchanges: list[ExchangeStatement] = field(default_factory=list)
    orders: dict = field(default_factory=dict)

    def exchange(self, code: str) -> ExchangeStatement:
        return next(e for e in self.exchanges if e.exchange == code)

    @property
    def realised_units(self) -> int:
        return sum(e.realised_units for e in self.exchanges)

    @property
    def fees_units(self) -> int:
        return sum(e.fees_units + e.escrow_fees_units - e.escrow_refunds_units for e in self.exchanges)

    @property
    def period(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def file_stem(self) -> str:
        """``statement-<external id>-<YYYY-MM>``, safe as a file name."""
        external = re.sub(r"[^A-Za-z0-9._-]+", "_", self.customer.external_id).strip("._") or str(self.customer.pk)
        return f"statement-{external}-{self.period}"


def month_bounds(month: date) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(first, time.min, tzinfo=UTC), datetime.combine(nxt, time.min, tzinfo=UTC)


def _reads(customer: Customer, exchange: str, since: datetime, until: datetime):
    """(opening read, its note, closing read, its note)."""
    history = BalanceSnapshot.objects.filter(customer=customer, exchange=exchange)
    opening = history.filter(taken_at__lt=since).order_by("-taken_at", "-id").first()
    note = ""
    if opening is None:
        opening = history.filter(taken_at__gte=since, taken_at__lt=until).order_by("taken_at", "id").first()
        if opening is not None:
            note = (f"No balance history before {formatting.when(since, seconds=False)}: the first balance read, "
                    f"{formatting.when(opening.taken_at)}, opens the statement; earlier movements of the month are not in it.")
        else:
            note = "No balance history for this month: the statement cannot be reconciled."
    closing = history.filter(taken_at__lt=until).order_by("-taken_at", "-id").first()
    closing_note = "" if closing is None else f"The last balance read before the month's end, {formatting.when(closing.taken_at)}."
    if closing is not None and opening is not None and closing.pk == opening.pk and note:
        closing_note = "Only one balance read this month."
    return opening, note, closing, closing_note


def exchange_statement(*, customer: Customer, exchange: str, since: datetime, until: datetime) -> ExchangeStatement:
    from orders.models import FeeEscrowRecord, Settlement
    from orders.pnl import customer_pnl, fill_cash_units

    part = ExchangeStatement(exchange=exchange, since=since, until=until)
    opening, part.opening_note, closing, part.closing_note = _reads(customer, exchange, since, until)
    if opening is not None:
        part.opening_units, part.opening_at = opening.usdc_base_units, opening.taken_at
    if closing is not None:
        part.closing_units, part.closing_at = closing.usdc_base_units, closing.taken_at
    start = min(since, part.opening_at) if part.opening_at else since
    end = part.closing_at or since

    def reconciled(moment: datetime) -> bool:
        return part.opening_at is not None and part.opening_at < moment <= end

    def counted(moment: datetime) -> bool:
        return reconciled(moment) or (since <= moment < until)

    fills = (Fill.objects.filter(customer=customer, exchange=exchange, created_at__gte=start, created_at__lt=until)
             .select_related("market").order_by("created_at", "id"))
    for fill in fills.iterator(chunk_size=CHUNK):
        if not counted(fill.created_at):
            continue
        cash = fill_cash_units(fill.price, fill.size)
        row = StatementFill(fill=fill, market_title=fill.market_title, cash_units=cash if fill.side == "sell" else -cash,
                            fee_units=base_units_from_usdc(fill.fee or 0), reconciled=reconciled(fill.created_at))
        part.fills.append(row)
        if row.reconciled:
            part.sold_units += cash if fill.side == "sell" else 0
            part.bought_units += cash if fill.side == "buy" else 0
            part.fees_units += row.fee_units
        else:
            part.outside_units += row.cash_units - row.fee_units
    settlements = (Settlement.objects.filter(customer=customer, exchange=exchange, settled_at__gte=start, settled_at__lt=until)
                   .select_related("market").order_by("settled_at", "id"))
    for settlement in settlements:
        if not counted(settlement.settled_at):
            continue
        settlement.reconciled = reconciled(settlement.settled_at)
        part.settlements.append(settlement)
        if settlement.reconciled:
            part.settlements_units += settlement.amount_base_units
        else:
            part.outside_units += settlement.amount_base_units
    if exchange == "polymarket":
        for record in FeeEscrowRecord.objects.filter(customer=customer).exclude(state=FeeEscrowRecord.State.AUTHORISED).filter(
                Q(pulled_at__gte=start, pulled_at__lt=until) | Q(settled_at__gte=start, settled_at__lt=until)):
            if record.pulled_at and reconciled(record.pulled_at):
                part.escrow_fees_units += record.fee_base_units
            if record.refund_base_units and record.settled_at and reconciled(record.settled_at):
                part.escrow_refunds_units += record.refund_base_units
    before = {(line.market_native_id, line.outcome): line.realised_units
              for line in customer_pnl(customer=customer, until=since, exchange=exchange)}
    at_end = customer_pnl(customer=customer, until=until, exchange=exchange)
    part.realised_units = sum(line.realised_units - before.get((line.market_native_id, line.outcome), 0) for line in at_end)
    part.open_positions = [line for line in at_end if line.quantity]
    if part.opening_units is not None and part.closing_units is not None:
        difference = part.opening_units + part.movements_units - part.closing_units
        if exchange == "kalshi" and -KALSHI_CENT_UNITS < difference < KALSHI_CENT_UNITS:
            part.rounding_units = difference  # Kalshi's balance is whole cents, cut down
        part.reconciliation_units = difference - part.rounding_units
    return part


def monthly_statement(*, customer: Customer, month: date) -> Statement:
    since, until = month_bounds(month)
    statement = Statement(customer=customer, month=since.date(), since=since, until=until)
    exchanges = sorted(set(customer.exchange_links.values_list("exchange", flat=True))
                       | set(BalanceSnapshot.objects.filter(customer=customer).values_list("exchange", flat=True).distinct()))
    statement.exchanges = [exchange_statement(customer=customer, exchange=e, since=since, until=until) for e in exchanges]
    orders = Order.objects.filter(customer=customer, created_at__gte=since, created_at__lt=until)
    statement.orders = orders.aggregate(
        placed=Count("id"), filled=Count("id", filter=Q(status=Order.Status.FILLED)),
        cancelled=Count("id", filter=Q(status=Order.Status.CANCELLED)),
    )
    return statement


def _units(value: int | None) -> str:
    return "" if value is None else formatting.plain(usdc_from_base_units(value))


def statement_csv_rows(statement: Statement) -> Iterator[list]:
    """Numbers in plain decimal notation (a spreadsheet reads them as numbers); text cells are
    formula-guarded by ``csv_lines``."""
    c = statement.customer
    yield ["Monthly statement", statement.period, c.external_id, str(c.parsec_customer_id)]
    for part in statement.exchanges:
        yield []
        yield ["Exchange", part.label]
        yield ["Opening balance (USDC)", _units(part.opening_units), formatting.when(part.opening_at, empty=""), part.opening_note]
        yield ["Fills: sold (USDC)", _units(part.sold_units)]
        yield ["Fills: bought (USDC)", _units(-part.bought_units)]
        yield ["Exchange fees (USDC)", _units(-part.fees_units)]
        yield ["Escrow fees (USDC)", _units(-part.escrow_fees_units)]
        yield ["Escrow refunds (USDC)", _units(part.escrow_refunds_units)]
        yield ["Settlements (USDC)", _units(part.settlements_units)]
        yield ["Closing balance (USDC)", _units(part.closing_units), formatting.when(part.closing_at, empty=""), part.closing_note]
        if part.rounding_units:
            yield ["Kalshi whole-cent rounding (USDC)", _units(part.rounding_units)]
        yield ["Reconciliation: opening + movements - closing (USDC)", _units(part.reconciliation_units)]
        if part.outside_units:
            yield ["After the closing read (next statement, USDC)", _units(part.outside_units)]
        yield ["Realised P&L this month (USDC)", _units(part.realised_units)]
        yield []
        yield ["Fills", "at (UTC)", "fill id", "market", "outcome", "side", "price", "size", "cash (USDC)", "fee (USDC)", "reconciled"]
        for f in part.fills:
            yield ["", formatting.when(f.created_at), f.fill_id, f.market_title, f.outcome, f.side, formatting.plain(f.price),
                   formatting.plain(f.size), _units(f.cash_units), _units(f.fee_units), "yes" if f.reconciled else "no"]
        yield ["Settlements", "at (UTC)", "market", "outcome", "result", "size", "payout per share", "amount (USDC)", "inferred from"]
        for s in part.settlements:
            yield ["", formatting.when(s.settled_at), s.market.question, s.outcome, s.get_result_display(), formatting.plain(s.size),
                   formatting.plain(s.payout_per_share), _units(s.amount_base_units), s.get_basis_display()]
        yield ["Open positions at month end", "market", "outcome", "held", "average cost", "cost basis (USDC)"]
        for line in part.open_positions:
            yield ["", line.market_title, line.outcome, formatting.plain(line.quantity), formatting.plain(line.average_cost),
                   _units(line.cost_units)]


def statement_pdf(statement: Statement) -> bytes:
    """The statement as a PDF (WeasyPrint renders the same body as the printable page)."""
    from django.template.loader import render_to_string
    from weasyprint import HTML

    html = render_to_string("compliance/statement_pdf.html", {"statement": statement, "customer": statement.customer})
    return HTML(string=html).write_pdf()
