"""The mirror of what Parsec holds for the builder's end-users: markets, orders, fills, positions.

A mirrored row is the Parsec id (unique) + typed columns + the raw payload + when it was last
seen. Rows are written by ``orders.sync`` (and, later, ``orders.services``); nothing here calls
the network.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core import formatting
from core.money import usdc_from_base_units
from customers.enums import Exchange
from customers.models import Customer

logger = logging.getLogger(__name__)


def price_field(**kwargs) -> models.DecimalField:
    """A probability price in [0, 1], to 1e-8 (ticks are 0.01 or 0.001 in practice)."""
    return models.DecimalField(max_digits=12, decimal_places=8, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    """Contracts/shares or USDC amounts as Decimal."""
    return models.DecimalField(max_digits=20, decimal_places=8, **kwargs)


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class Market(models.Model):
    """A market in Parsec's catalogue (``/markets``), so that people read titles, not hex ids."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"
        RESOLVED = "resolved", "Resolved"
        VOIDED = "voided", "Voided"
        ARCHIVED = "archived", "Archived"
        UNKNOWN = "unknown", "Unknown"

    # Trading has ended; "settled" ones have paid their positions (a winner, or the void rule).
    ENDED_STATUSES = frozenset({Status.CLOSED, Status.RESOLVED, Status.VOIDED, Status.ARCHIVED})
    SETTLED_STATUSES = frozenset({Status.RESOLVED, Status.VOIDED})

    parsec_id = models.CharField("Parsec id", max_length=255, unique=True)
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    exchange_market_id = models.CharField(max_length=255)
    # The id orders, fills and positions carry (``market_id``). For Kalshi it is the ticker, the
    # same as exchange_market_id; for Polymarket the sources disagree (numeric id vs condition
    # id, NOTES §1), so the sync records whichever the orders use.
    order_market_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 (NULL: not known, unique when set)
    condition_id = models.CharField(max_length=80, blank=True)
    event_id = models.CharField(max_length=255, blank=True)
    question = models.TextField()
    group_title = models.TextField(blank=True)
    outcomes = models.JSONField(default=list, blank=True, help_text="[{name, token_id?, price?}]")
    market_type = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    tick_size = price_field(null=True, blank=True)
    min_order_size = quantity_field(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)
    last_price = price_field(null=True, blank=True)
    winning_outcome = models.CharField(max_length=255, blank=True, help_text="The outcome priced 1 once resolved.")
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="When trading ended: Parsec's updated_at when first seen ended, else when the mirror saw it.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When it was resolved or voided (same sources).")
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["exchange", "question"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "exchange_market_id"], name="market_unique_native_id"),
            models.UniqueConstraint(fields=["exchange", "order_market_id"], name="market_unique_order_market_id"),
            models.CheckConstraint(condition=Q(tick_size__isnull=True) | Q(tick_size__gt=0), name="market_tick_size_positive"),
            models.CheckConstraint(
                condition=Q(min_order_size__isnull=True) | Q(min_order_size__gte=0), name="market_min_size_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(last_price__isnull=True) | Q(last_price__gte=0, last_price__lte=1), name="market_last_price_in_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["exchange", "status"], name="market_exchange_status_idx"),
            # "Resolving soon" and "past its end date": active markets by end date.
            models.Index(fields=["status", "end_date"], name="market_status_end_idx"),
            models.Index(fields=["event_id"], name="market_event_idx"),
        ]

    def __str__(self) -> str:
        return self.question

    @property
    def outcome_names(self) -> list[str]:
        return [outcome.get("name", "") for outcome in self.outcomes if isinstance(outcome, dict)]

    def outcome_price(self, name: str) -> Decimal | None:
        """The outcome's price as Parsec last listed it (final once settled), else None."""
        for item in self.outcomes or ():
            if isinstance(item, dict) and item.get("name") == name and item.get("price") not in (None, ""):
                return Decimal(str(item["price"]))
        return None

    @property
    def is_settled(self) -> bool:
        return self.status in self.SETTLED_STATUSES

    @property
    def past_end_date(self) -> bool:
        """Still listed as trading although its end date has passed: Parsec has not caught up."""
        return self.status == self.Status.ACTIVE and self.end_date is not None and self.end_date <= timezone.now()

    @property
    def lifecycle_label(self) -> str:
        if self.past_end_date:
            return "Active, past its end date"
        if self.status == self.Status.RESOLVED and self.winning_outcome:
            return f"Resolved: {self.winning_outcome}"
        return self.get_status_display()

    @property
    def description(self) -> str:
        return str((self.raw or {}).get("description") or "")

    @property
    def rules(self) -> str:
        return str((self.raw or {}).get("rules") or "")

    @property
    def canonical_event_id(self) -> str:
        """Parsec's cross-exchange event id (``xref.event_id``), when it sent one."""
        xref = (self.raw or {}).get("xref")
        return str(xref.get("event_id") or "") if isinstance(xref, dict) else ""


class MarketLeg:
    """What an order, a fill and an order intent share: a price and size on one market outcome."""

    @property
    def notional(self) -> Decimal:
        return self.price * self.size

    @property
    def market_title(self) -> str:
        return self.market.question if self.market_id else self.market_native_id


class Order(MarketLeg, models.Model):
    """An order Parsec holds for an end-user on one exchange (the ``Order`` object)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        OPEN = "open", "Open"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        UNKNOWN = "unknown", "Unknown"

    class PlacedBy(models.TextChoices):
        OPERATOR = "operator", "An operator"
        API_CLIENT = "api_client", "An API client"
        OUTSIDE = "outside", "Outside the back-office"

    TERMINAL_STATUSES = frozenset({Status.FILLED, Status.CANCELLED, Status.REJECTED})
    # Not terminal: the sync polls these by id until Parsec says how they ended.
    LIVE_STATUSES = frozenset({Status.PENDING, Status.OPEN, Status.PARTIALLY_FILLED, Status.UNKNOWN})
    # Open at Parsec as far as we know: the open orders operators see and what a cancel touches
    # (a status we cannot read is polled, not offered for cancelling).
    CANCELLABLE_STATUSES = frozenset({Status.PENDING, Status.OPEN, Status.PARTIALLY_FILLED})
    # Order of progress; a status never moves to a lower rank, and terminal ones never move.
    STATUS_RANK = {
        Status.UNKNOWN: 0, Status.PENDING: 0, Status.OPEN: 1, Status.PARTIALLY_FILLED: 2,
        Status.FILLED: 3, Status.CANCELLED: 3, Status.REJECTED: 3,
    }

    parsec_order_id = models.CharField("Parsec order id", max_length=255)
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    market_native_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=255)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = price_field()
    size = quantity_field()
    filled = quantity_field(default=Decimal("0"))
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    parsec_status = models.CharField(
        max_length=64, blank=True, help_text="The status string as Parsec last sent it (kept when we do not know it).",
    )
    order_type = models.CharField(max_length=8, blank=True)
    expiration = models.DateTimeField(null=True, blank=True)
    placed_by = models.CharField(max_length=16, choices=PlacedBy.choices, default=PlacedBy.OUTSIDE)
    placed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
    )
    fee_auth_order_id = models.CharField("fee_auth order id (bytes32)", max_length=66, null=True, blank=True, db_index=True)  # noqa: DJ001 (NULL: no escrow)
    created_at = models.DateTimeField("created at Parsec")
    updated_at = models.DateTimeField("updated at Parsec", null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "parsec_order_id"], name="order_unique_per_exchange"),
            models.CheckConstraint(condition=Q(size__gt=0), name="order_size_positive"),
            models.CheckConstraint(condition=Q(filled__gte=0) & Q(filled__lte=F("size")), name="order_filled_within_size"),
            models.CheckConstraint(condition=Q(price__gte=0) & Q(price__lte=1), name="order_price_in_unit"),
            models.CheckConstraint(
                condition=Q(placed_by_user__isnull=True) | Q(placed_by="operator"), name="order_user_only_for_operator",
            ),
            models.CheckConstraint(
                condition=Q(fee_auth_order_id__isnull=True) | Q(fee_auth_order_id__regex=r"^0x[0-9a-fA-F]{64}$"),
                name="order_fee_auth_order_id_bytes32",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_created_idx"),
            # Searching by order id alone: the unique (exchange, parsec_order_id) index leads with exchange.
            models.Index(fields=["parsec_order_id"], name="order_parsec_order_id_idx"),
            models.Index(fields=["exchange", "status"], name="order_exchange_status_idx"),
            models.Index(fields=["market", "-created_at"], name="order_market_idx"),
            models.Index(fields=["-created_at"], name="order_created_idx"),
            models.Index(fields=["-last_seen_at"], name="order_last_seen_idx"),
            # The poll-by-id of every order still live in the mirror reads exactly these rows.
            models.Index(
                fields=["customer", "exchange"], name="order_live_idx",
                condition=Q(status__in=["pending", "open", "partially_filled", "unknown"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {formatting.size(self.size)} {self.outcome} @ {formatting.plain(self.price)} ({self.parsec_order_id})"

    @classmethod
    def next_status(cls, current: str | None, incoming: str) -> str:
        """The status to store when Parsec says ``incoming`` and the mirror holds ``current``.

        Reads can arrive out of order (a list fetched before a cancel lands after the poll), so a
        status only moves forward and a terminal one never moves. An unknown status keeps what
        we have (or ``unknown`` for a new row); the caller records the raw string.
        """
        if incoming not in cls.STATUS_RANK or incoming == cls.Status.UNKNOWN:
            return current or cls.Status.UNKNOWN
        if current is None or current == cls.Status.UNKNOWN:
            return incoming
        if current in cls.TERMINAL_STATUSES:
            return current
        return incoming if cls.STATUS_RANK[incoming] >= cls.STATUS_RANK[current] else current

    def advance_status(self, incoming: str) -> bool:
        """Apply a status read from Parsec in memory; True when ``status`` changed."""
        if incoming not in self.STATUS_RANK:
            logger.warning("order %s on %s: unknown Parsec status %r", self.parsec_order_id, self.exchange, incoming)
        self.parsec_status = str(incoming)[:64]
        new = self.next_status(self.status if self.pk or self.status else None, incoming)
        changed = new != self.status
        self.status = new
        return changed

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


class Fill(MarketLeg, models.Model):
    """One execution (``/fills``), deduplicated by ``fill_id``; linked to its order when known."""

    # Every index is paid for on each of the many fills a sync inserts (bench/sync_ingest.py), so
    # the table has only the ones queries use: fill_id is unique by a constraint (no extra
    # LIKE-pattern index on PostgreSQL), and customer and market get no single-column index of
    # their own because the composite indexes below start with them.
    fill_id = models.CharField(max_length=255)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills")
    parsec_order_id = models.CharField("Parsec order id", max_length=255)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="fills", db_index=False)
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills", db_index=False)
    market_native_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=255)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = price_field()
    size = quantity_field()
    is_taker = models.BooleanField()
    fee = quantity_field(default=Decimal("0"), help_text="The exchange's fee on this fill, not the escrow fee.")
    created_at = models.DateTimeField("executed at")
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["fill_id"], name="fill_fill_id_unique"),
            models.CheckConstraint(condition=Q(size__gt=0), name="fill_size_positive"),
            models.CheckConstraint(condition=Q(price__gte=0) & Q(price__lte=1), name="fill_price_in_unit"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="fill_customer_created_idx"),
            models.Index(fields=["parsec_order_id", "exchange"], name="fill_parsec_order_id_idx"),
            models.Index(fields=["market", "-created_at"], name="fill_market_idx"),
            models.Index(fields=["-created_at"], name="fill_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {formatting.size(self.size)} {self.outcome} @ {formatting.plain(self.price)} ({self.fill_id})"


class ClosedReason(models.TextChoices):
    SOLD = "sold", "Sold (the fills account for it)"
    SETTLED = "settled", "Settled at the market's resolution"
    GONE = "gone", "No longer listed (not explained yet)"


class Position(models.Model):
    """What an end-user holds in one outcome of one market; a closed position is kept, not deleted.

    ``size`` is 0 once closed; the raw payload keeps the last listing, and a settlement row
    (``settlement``) what it paid.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="positions")
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="positions")
    market_native_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=255)
    size = quantity_field()
    average_price = price_field()
    current_price = price_field(null=True, blank=True)
    is_open = models.BooleanField(default=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=8, choices=ClosedReason.choices, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["customer_id", "exchange", "market_native_id", "outcome"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "exchange", "market_native_id", "outcome"], name="position_unique_per_outcome",
            ),
            models.CheckConstraint(condition=Q(size__gte=0), name="position_size_not_negative"),
            models.CheckConstraint(condition=Q(average_price__gte=0) & Q(average_price__lte=1), name="position_avg_price_in_unit"),
            models.CheckConstraint(
                condition=Q(current_price__isnull=True) | (Q(current_price__gte=0) & Q(current_price__lte=1)),
                name="position_current_price_in_unit",
            ),
            models.CheckConstraint(
                condition=Q(is_open=True, closed_at__isnull=True) | Q(is_open=False, closed_at__isnull=False),
                name="position_closed_has_closed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["exchange", "is_open"], name="position_exchange_open_idx"),
            models.Index(fields=["market"], name="position_market_idx"),
        ]

    def __str__(self) -> str:
        return f"{formatting.size(self.size)} {self.outcome} of {self.market_native_id}"

    @property
    def cost_basis(self) -> Decimal:
        return self.size * self.average_price

    @property
    def market_value(self) -> Decimal | None:
        return None if self.current_price is None else self.size * self.current_price

    @property
    def unrealized_pnl(self) -> Decimal | None:
        value = self.market_value
        return None if value is None else value - self.cost_basis


class Settlement(models.Model):
    """What a holding paid when its market was resolved or voided: the cause of a balance change.

    Parsec writes no order or fill for a settlement and reports no settlement either: a resolved
    market's positions simply stop being listed and the balance goes up. ``orders.settlements``
    infers this row from what the mirror saw (the market's final status and prices, the position
    it last listed, the fills) and records how (``basis`` and ``evidence``). Amounts are USDC base
    units: size x payout per share, rounded toward zero.
    """

    class Kind(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        VOIDED = "voided", "Voided"

    class Result(models.TextChoices):
        WON = "won", "Won"
        LOST = "lost", "Lost"
        VOID = "void", "Void (stake returned per the rule)"

    class Basis(models.TextChoices):
        POSITION = "position", "The position Parsec last listed"
        FILLS = "fills", "The mirrored fills (Parsec never listed the holding, or traded since)"
        BOTH = "both", "The position Parsec last listed, matching the fills"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="settlements")
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="settlements")
    market_native_id = models.CharField(max_length=255)
    outcome = models.CharField(max_length=255)
    position = models.OneToOneField(Position, null=True, blank=True, on_delete=models.SET_NULL, related_name="settlement")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    result = models.CharField(max_length=4, choices=Result.choices)
    void_rule = models.CharField(max_length=8, blank=True, help_text="even / cost, for a voided market (SETTLEMENT_VOID_RULE).")
    size = quantity_field(help_text="Shares settled.")
    average_price = price_field(help_text="The holding's average price per share, as Parsec last listed it (or the fills).")
    payout_per_share = price_field()
    amount_base_units = models.BigIntegerField(help_text="USDC base units paid into the balance.")
    basis = models.CharField("inferred from", max_length=8, choices=Basis.choices)
    evidence = models.JSONField(default=dict, blank=True, help_text="What the inference read: statuses, prices, sizes.")
    settled_at = models.DateTimeField(help_text="When the market was resolved or voided.")
    inferred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-settled_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "exchange", "market_native_id", "outcome"], name="settlement_unique_per_holding"),
            models.CheckConstraint(condition=Q(size__gt=0), name="settlement_size_positive"),
            models.CheckConstraint(condition=Q(amount_base_units__gte=0), name="settlement_amount_not_negative"),
            models.CheckConstraint(condition=Q(payout_per_share__gte=0) & Q(payout_per_share__lte=1), name="settlement_payout_in_unit"),
        ]
        indexes = [
            models.Index(fields=["customer", "-settled_at"], name="settlement_customer_idx"),
            models.Index(fields=["market"], name="settlement_market_idx"),
        ]

    def __str__(self) -> str:
        return f"{formatting.size(self.size)} {self.outcome} of {self.market_native_id}: {self.get_result_display()}"

    @property
    def amount_usdc(self) -> Decimal:
        return Decimal(self.amount_base_units).scaleb(-6)

    @property
    def market_title(self) -> str:
        return self.market.question


# --- Operator trading: intents, four-eyes approvals, kill switches (issue 5) -------------------


class OrderType(models.TextChoices):
    GTC = "gtc", "Good till cancelled"
    IOC = "ioc", "Immediate or cancel"
    FOK = "fok", "Fill or kill"
    GTD = "gtd", "Good till date"


class OrderIntent(MarketLeg, models.Model):
    """An operator's (or API client's) decision to place one order, written before Parsec hears of it.

    Parsec has no idempotency key on ``POST /orders``, so this row is what makes a placement
    happen at most once: it is committed before the call, claimed with a conditional UPDATE
    (``new`` → ``sending``) so only one caller ever sends it, and when the answer is lost it
    stays ``unknown`` until reconciliation finds the order at Parsec or proves it absent.
    """

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting a second operator's approval"
        NEW = "new", "Ready to send"
        SENDING = "sending", "Sending"
        PLACED = "placed", "Placed"
        REJECTED = "rejected", "Rejected by Parsec"
        NOT_PLACED = "not_placed", "Not placed"
        UNKNOWN = "unknown", "Unknown (reconciling)"
        NEEDS_REVIEW = "needs_review", "Needs review"
        WITHDRAWN = "withdrawn", "Withdrawn before sending"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"

    # Statuses in which the order may exist at Parsec without us knowing its id.
    UNRESOLVED_STATUSES = frozenset({Status.SENDING, Status.UNKNOWN})
    FINAL_STATUSES = frozenset({Status.PLACED, Status.REJECTED, Status.NOT_PLACED, Status.NEEDS_REVIEW, Status.WITHDRAWN})

    key = models.UUIDField("intent key", unique=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="order_intents")
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.PROTECT, related_name="order_intents")
    market_native_id = models.CharField(max_length=255, help_text="The market id sent to Parsec (orders' market_id).")
    outcome = models.CharField(max_length=255)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = price_field()
    size = quantity_field()
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.GTC)
    expiration = models.DateTimeField(null=True, blank=True, help_text="gtd only.")
    fee_base_units = models.BigIntegerField(null=True, blank=True, help_text="Escrow fee in USDC base units, if any.")
    fee_auth_order_id = models.CharField("fee_auth order id (bytes32)", max_length=66, null=True, blank=True, unique=True)
    reason = models.TextField("why", blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    parsec_order_id = models.CharField("Parsec order id", max_length=255, null=True, blank=True)  # noqa: DJ001 (NULL: not placed, unique when set)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="intents")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    reconcile_attempts = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    reconcile_note = models.TextField(blank=True)
    approval = models.ForeignKey(
        "approvals.ApprovalRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="order_intents",
        help_text="The four-eyes request, when the notional needed one.",
    )
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When a worker was asked to send it.")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("place_order", "Can place orders for a customer"),
            ("cancel_order", "Can cancel a customer's orders"),
            ("reconcile_intent", "Can reconcile an order intent"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "parsec_order_id"], name="intent_unique_parsec_order"),
            models.CheckConstraint(condition=Q(size__gt=0), name="intent_size_positive"),
            models.CheckConstraint(condition=Q(price__gt=0) & Q(price__lt=1), name="intent_price_in_unit"),
            models.CheckConstraint(
                condition=~Q(status="placed") | Q(parsec_order_id__isnull=False), name="intent_placed_has_order_id",
            ),
            models.CheckConstraint(
                condition=~Q(order_type="gtd") | Q(expiration__isnull=False), name="intent_gtd_has_expiration",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="intent_customer_idx"),
            models.Index(
                fields=["next_check_at"], name="intent_unresolved_idx",
                condition=Q(status__in=["new", "sending", "unknown"]),
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.side} {formatting.size(self.size)} {self.outcome} @ {formatting.plain(self.price)} for "
                f"{self.customer.external_id} ({self.get_status_display()})")

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class KillSwitch(models.Model):
    """A local freeze on placing orders for a customer, a market, or the whole builder.

    Unlike Parsec's deactivation it is reversible; every placement path checks it.
    """

    class Scope(models.TextChoices):
        BUILDER = "builder", "Whole builder"
        CUSTOMER = "customer", "Customer"
        MARKET = "market", "Market"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="kill_switches")
    exchange = models.CharField(max_length=16, choices=Exchange.choices, blank=True)
    market_native_id = models.CharField(max_length=255, blank=True)
    reason = models.TextField("why")
    engaged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    engaged_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    cancel_summary = models.JSONField(default=dict, blank=True, help_text="What engaging it cancelled.")

    class Meta:
        ordering = ["-engaged_at", "-id"]
        permissions = [("manage_killswitch", "Can engage and release kill switches")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="builder", customer__isnull=True, market_native_id="")
                    | Q(scope="customer", customer__isnull=False, market_native_id="")
                    | (Q(scope="market", customer__isnull=True) & ~Q(market_native_id="") & ~Q(exchange=""))
                ),
                name="killswitch_scope_target",
            ),
            models.UniqueConstraint(
                fields=["scope"], condition=Q(scope="builder", released_at__isnull=True), name="killswitch_one_builder",
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(scope="customer", released_at__isnull=True), name="killswitch_one_per_customer",
            ),
            models.UniqueConstraint(
                fields=["exchange", "market_native_id"], condition=Q(scope="market", released_at__isnull=True),
                name="killswitch_one_per_market",
            ),
        ]
        indexes = [models.Index(fields=["released_at"], name="killswitch_engaged_idx")]

    def __str__(self) -> str:
        target = {"builder": "whole builder", "customer": str(self.customer), "market": self.market_native_id}[self.scope]
        return f"Kill switch ({target})"

    @property
    def is_engaged(self) -> bool:
        return self.released_at is None


class FeeEscrowRecord(models.Model):
    """One order's builder fee in Parsec's on-chain escrow, keyed by the ``fee_auth`` bytes32 id.

    The amounts are what we derive from the mirrored order (its fills and status); the chain's
    ``feeRecords`` entry (the sandbox stands in for it) is read into ``chain_*`` and compared;
    any difference is written to ``discrepancy``. The signature is never kept.
    """

    class State(models.TextChoices):
        AUTHORISED = "authorised", "Authorised (signed, not pulled)"
        PULLED = "pulled", "Pulled into escrow"
        DISTRIBUTED = "distributed", "Distributed"
        PARTIALLY_DISTRIBUTED = "partially_distributed", "Partially distributed + refunded"
        REFUNDED = "refunded", "Refunded"
        REFUSED = "refused", "Refused (order not placed; nothing pulled)"

    class Reconciliation(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked against the chain"
        MATCHES = "matches", "Matches the chain"
        PENDING = "pending_on_chain", "Pending on chain"
        STUCK = "stuck", "Stuck in escrow"
        REFUNDED_NOT_FILLED = "refunded_not_filled", "Refunded, but we think filled"
        AMOUNTS_DIFFER = "amounts_differ", "Amounts differ"
        MISSING = "missing_on_chain", "Missing on chain"
        NOT_OURS = "not_placed", "On chain, but we did not place it"
        REORG = "reorg", "Undone by a reorg"
        DIFFERS = "differs", "Differs from the chain"

    OPEN_STATES = frozenset({State.AUTHORISED, State.PULLED})
    SETTLED_STATES = frozenset({State.DISTRIBUTED, State.PARTIALLY_DISTRIBUTED, State.REFUNDED})
    ALERTS = frozenset({Reconciliation.STUCK, Reconciliation.REFUNDED_NOT_FILLED, Reconciliation.AMOUNTS_DIFFER,
                        Reconciliation.MISSING, Reconciliation.NOT_OURS, Reconciliation.REORG, Reconciliation.DIFFERS})

    fee_order_id = models.CharField("fee_auth order id (bytes32)", max_length=66, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="fee_escrow_records")
    intent = models.OneToOneField(OrderIntent, null=True, blank=True, on_delete=models.SET_NULL, related_name="fee_escrow")
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="fee_escrow_records")
    payer = models.CharField(max_length=42)
    fee_base_units = models.BigIntegerField(help_text="The signed fee_amount, USDC base units.")
    deadline = models.BigIntegerField(help_text="Unix seconds; the pull must happen before it.")
    affiliate_fee_bps = models.PositiveIntegerField(help_text="The affiliate's share of a distribution when authorised.")
    has_affiliate = models.BooleanField(default=True)
    state = models.CharField(max_length=24, choices=State.choices, default=State.AUTHORISED, db_index=True)
    affiliate_base_units = models.BigIntegerField(default=0)
    treasury_base_units = models.BigIntegerField(default=0)
    refund_base_units = models.BigIntegerField(default=0)
    refund_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField("authorised at", default=timezone.now, db_index=True)
    pulled_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    chain_state = models.CharField(max_length=24, blank=True, help_text="feeRecords(orderId) as last read; blank = no record.")
    chain_record = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    discrepancy = models.TextField(blank=True, help_text="What differs between our derivation and the chain's record.")
    # What the chain said when last read (orders.escrow.check_record); pages show these, never wait on the chain.
    reconciliation = models.CharField(max_length=24, choices=Reconciliation.choices, default=Reconciliation.UNCHECKED,
                                      db_index=True)
    chain_block = models.BigIntegerField(null=True, blank=True, help_text="The block the chain state was read at.")
    chain_read_at = models.DateTimeField(null=True, blank=True, help_text="When the chain state was last read.")
    chain_error = models.TextField(blank=True, help_text="Why the last read of the chain failed (blank: it did not).")
    chain_behind_since = models.DateTimeField(null=True, blank=True,
                                              help_text="Since when the chain has not shown what we expect.")
    chain_behind_since_block = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("check_escrow", "Can re-check fee escrow records against the escrow")]
        constraints = [
            models.CheckConstraint(condition=Q(fee_order_id__regex=r"^0x[0-9a-f]{64}$"), name="escrow_fee_order_id_bytes32"),
            models.CheckConstraint(condition=Q(fee_base_units__gt=0), name="escrow_fee_positive"),
            models.CheckConstraint(
                condition=Q(affiliate_base_units__gte=0, treasury_base_units__gte=0, refund_base_units__gte=0)
                & Q(fee_base_units__gte=F("affiliate_base_units") + F("treasury_base_units") + F("refund_base_units")),
                name="escrow_split_within_fee",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="escrow_customer_idx"),
            models.Index(fields=["checked_at"], name="escrow_open_idx", condition=Q(state__in=["authorised", "pulled"])),
        ]

    def __str__(self) -> str:
        return f"Fee {self.fee_order_id[:10]}… {formatting.usdc_base_units(self.fee_base_units, places=6)} USDC ({self.get_state_display()})"

    @property
    def fee_usdc(self) -> Decimal:
        return usdc_from_base_units(self.fee_base_units)

    @property
    def has_discrepancy(self) -> bool:
        return bool(self.discrepancy)


class FeeEscrowEvent(models.Model):
    """One event of the escrow contract for one of our fee records, where the chain put it
    (orders.escrow_events ingests them). A reorg that removes it sets ``dropped_at``; the event
    mined again in another block is another row (its block hash differs)."""

    class Kind(models.TextChoices):
        PULLED = "FeePulled", "Pulled"
        DISTRIBUTED = "FeeDistributed", "Distributed"
        REFUNDED = "FeeRefunded", "Refunded"

    record = models.ForeignKey(FeeEscrowRecord, on_delete=models.CASCADE, related_name="chain_events")
    key = models.CharField(max_length=200, unique=True, help_text="block hash:transaction hash:log index")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="USDC base units: pulled, distributed (affiliate + treasury) or refunded.")
    affiliate_amount = models.BigIntegerField(default=0)
    treasury_amount = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=32, blank=True)
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    tx_hash = models.CharField(max_length=66)
    log_index = models.PositiveIntegerField()
    final = models.BooleanField(default=False, help_text="ESCROW_CONFIRMATIONS deep when last read.")
    seen_at = models.DateTimeField(default=timezone.now)
    dropped_at = models.DateTimeField(null=True, blank=True, help_text="When a reorg was seen to remove it.")

    class Meta:
        ordering = ["block_number", "log_index"]
        indexes = [models.Index(fields=["block_number"], name="escrow_event_block_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} in block {self.block_number}"


class EscrowFollower(models.Model):
    """The escrow event follower's health (orders.escrow_events.follow_chain): what it last read,
    when, and why its last attempt failed; ``lease_until`` keeps two runs from overlapping."""

    name = models.CharField(max_length=40, primary_key=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    head_block = models.BigIntegerField(null=True, blank=True)
    final_block = models.BigIntegerField(null=True, blank=True)
    events_ingested = models.BigIntegerField(default=0)
    events_dropped = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at block {self.head_block}"
