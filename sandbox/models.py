"""The sandbox's state: builders, end-users, markets, books, orders, fills, money.

These tables live only in the sandbox database (backoffice.routers.SandboxRouter).
Money is USDC base units (int, 6 decimals); prices and sizes are Decimal.

Indexes: a foreign key gets no index of its own (``db_index=False``) where a composite index or
unique constraint starts with it, or where nothing looks rows up by it. Without table statistics
SQLite picks the narrow single-column index over the composite one, so a book lookup by
(outcome, status, side, price) scanned every order ever placed on that outcome and placement
slowed down as the book's history grew (see bench/sandbox_load.py).
"""

# Nullable strings mirror the API's nulls (no affiliate, no token id on Kalshi); rows are
# never shown in an admin, so they need no __str__.
# ruff: noqa: DJ001, DJ008
from __future__ import annotations

import uuid

from django.db import models

EXCHANGES_TRADING = ("polymarket", "kalshi")
EXCHANGES_DATA_ONLY = ("limitless", "opinion", "predictfun")
EXCHANGES = EXCHANGES_TRADING + EXCHANGES_DATA_ONLY

PRICE = {"max_digits": 12, "decimal_places": 4}
SIZE = {"max_digits": 20, "decimal_places": 2}


class SandboxState(models.Model):
    """Small key/value facts about the running sandbox: the seed, the clock offset."""

    key = models.CharField(max_length=64, primary_key=True)
    value = models.JSONField()


class Builder(models.Model):
    name = models.CharField(max_length=100)
    tier = models.CharField(max_length=20, default="iron")
    qps_pool = models.PositiveIntegerField(default=500)
    fee_escrow_enabled = models.BooleanField(default=True)
    fee_bps = models.PositiveIntegerField(null=True, default=25)
    affiliate_address = models.CharField(max_length=42, null=True, blank=True)
    escrow_contract_address = models.CharField(max_length=42, default="0xbd25057b4d3252ca1ec26e1e5efb6480315ba142")
    min_fee_usdc = models.BigIntegerField(default=100_000)
    min_fee_bps = models.PositiveIntegerField(default=10)
    treasury_address = models.CharField(max_length=42)
    affiliate_fee_bps = models.PositiveIntegerField(default=5000)
    created_at = models.DateTimeField()


class Customer(models.Model):
    """Any account that holds money: an end-user, a builder's own account, a market maker, the fee house."""

    class Kind(models.TextChoices):
        END_USER = "end_user"
        BUILDER = "builder"
        MARKET_MAKER = "market_maker"
        HOUSE = "house"

    customer_id = models.UUIDField(unique=True, default=uuid.uuid4)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.END_USER)
    builder = models.ForeignKey(Builder, null=True, on_delete=models.PROTECT, related_name="customers", db_index=False)
    api_key = models.CharField(max_length=80, unique=True, null=True)
    external_id = models.CharField(max_length=200, null=True)
    email = models.CharField(max_length=254, blank=True, default="")
    tier = models.CharField(max_length=20, default="free")
    qps_limit = models.PositiveIntegerField(default=10)
    active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["builder", "external_id"], name="sandbox_customer_external_id_per_builder"),
        ]
        indexes = [models.Index(fields=["builder", "kind", "external_id"])]

    @property
    def is_builder(self) -> bool:
        return self.kind == self.Kind.BUILDER


class Wallet(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="wallets")
    wallet_type = models.CharField(max_length=10)  # eoa | safe
    eoa_address = models.CharField(max_length=42)
    safe_address = models.CharField(max_length=42, null=True)
    privy_wallet_id = models.CharField(max_length=64, blank=True, default="")
    chain_id = models.PositiveIntegerField(null=True, default=137)
    # Only for the seed's demo customers, so the control plane can sign fee_auth for rehearsals.
    # Never set for a wallet created through the API.
    demo_private_key = models.CharField(max_length=66, null=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()


class ExchangeLink(models.Model):
    """An end-user linked to an exchange. Submitted secrets are never kept: only a fingerprint."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="exchange_links", db_index=False)
    exchange = models.CharField(max_length=20)
    mode = models.CharField(max_length=10)  # managed | self
    has_credentials = models.BooleanField(default=True)
    can_trade = models.BooleanField(default=True)  # self Polymarket without private_key reads only
    credentials_fingerprint = models.CharField(max_length=64, blank=True, default="")
    steps_done = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "exchange"], name="sandbox_link_once")]


class Market(models.Model):
    exchange = models.CharField(max_length=20)
    exchange_market_id = models.CharField(max_length=100)
    parsec_id = models.CharField(max_length=140, unique=True)
    # The id orders, fills and positions use: the Kalshi ticker, the Polymarket condition id.
    order_market_id = models.CharField(max_length=100)
    condition_id = models.CharField(max_length=66, null=True)
    exchange_group_id = models.CharField(max_length=100)
    parsec_group_id = models.CharField(max_length=140)
    event_id = models.CharField(max_length=140)
    question = models.CharField(max_length=300)
    group_title = models.CharField(max_length=300)
    description = models.TextField(blank=True, default="")
    slug = models.CharField(max_length=200)
    market_type = models.CharField(max_length=20)  # binary | categorical
    # active -> closed -> resolved (or SANDBOX_VOID_STATUS when voided); see sandbox.lifecycle
    status = models.CharField(max_length=20, default="active")
    tick_size = models.DecimalField(**PRICE)
    min_order_size = models.DecimalField(**SIZE)
    volume_seed = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    volume_traded = models.DecimalField(max_digits=24, decimal_places=6, default=0)
    # False: the makers keep quoting around where the market was put (created or moved), so a
    # resting order inside their spread is never crossed by a requote (rehearsals, tests).
    makers_walk = models.BooleanField(default=True)
    resolved_outcome = models.CharField(max_length=100, null=True)  # the winner; null while open and when voided
    void_rule = models.CharField(max_length=10, blank=True, default="")  # set when voided: "even" | "cost"
    closed_at = models.DateTimeField(null=True)  # trading halted (also set by a resolution or void of an active market)
    resolved_at = models.DateTimeField(null=True)  # resolved or voided: positions settled
    end_date = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exchange", "order_market_id"], name="sandbox_market_order_id")]
        indexes = [models.Index(fields=["exchange", "status"])]


class Outcome(models.Model):
    """One outcome of a market, and its own order book (a binary market has a Yes book and a No book)."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="outcomes", db_index=False)
    index = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    token_id = models.CharField(max_length=80, null=True)
    mid = models.DecimalField(**PRICE)  # the market makers' fair price
    anchor_mid = models.DecimalField(**PRICE)  # where the deterministic walk restarts after a move
    anchor_step = models.BigIntegerField(default=0)
    quote_step = models.BigIntegerField(default=-1)  # step of the current maker quotes
    last_price = models.DecimalField(null=True, **PRICE)
    # What one share paid when the market resolved (1 or 0) or was voided ("even": 1/N rounded
    # down to the base unit); null while the market is open and under the "cost" void rule.
    final_price = models.DecimalField(null=True, max_digits=12, decimal_places=6)

    class Meta:
        ordering = ["market_id", "index"]
        constraints = [models.UniqueConstraint(fields=["market", "index"], name="sandbox_outcome_index")]


class MakerQuote(models.Model):
    """A synthetic market maker's resting level; consumed by takers, replaced on each quote move."""

    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="maker_quotes", db_index=False)
    side = models.CharField(max_length=4)  # buy | sell
    price = models.DecimalField(**PRICE)
    size = models.DecimalField(**SIZE)

    class Meta:
        indexes = [models.Index(fields=["outcome", "side", "price"])]


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        OPEN = "open"
        PARTIALLY_FILLED = "partially_filled"
        FILLED = "filled"
        CANCELLED = "cancelled"
        REJECTED = "rejected"

    LIVE = (Status.PENDING, Status.OPEN, Status.PARTIALLY_FILLED)
    RESTING = (Status.OPEN, Status.PARTIALLY_FILLED)

    order_id = models.CharField(max_length=40, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", db_index=False)
    exchange = models.CharField(max_length=20)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="orders")
    outcome = models.ForeignKey(Outcome, on_delete=models.PROTECT, related_name="orders", db_index=False)
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=4)
    price = models.DecimalField(**PRICE)
    size = models.DecimalField(**SIZE)
    filled = models.DecimalField(default=0, **SIZE)
    status = models.CharField(max_length=20, choices=Status.choices)
    expiration = models.DateTimeField(null=True)
    reserved = models.BigIntegerField(default=0)  # USDC base units still held for a buy
    reserved_shares = models.DecimalField(default=0, **SIZE)  # shares still held for a sell
    impersonated = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["outcome", "status", "side", "price"]),
            models.Index(fields=["customer", "exchange", "status", "created_at"]),
            models.Index(fields=["status", "expiration"]),
        ]

    @property
    def remaining(self):
        return self.size - self.filled


class Trade(models.Model):
    """One match on a book: the public tape (/trades) and the candles (/price)."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="trades")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="trades", db_index=False)
    price = models.DecimalField(**PRICE)
    size = models.DecimalField(**SIZE)
    aggressor_side = models.CharField(max_length=4)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["outcome", "created_at"])]


class Fill(models.Model):
    fill_id = models.CharField(max_length=40, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="fills", db_index=False)
    exchange = models.CharField(max_length=20)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="fills", db_index=False)
    outcome = models.ForeignKey(Outcome, on_delete=models.PROTECT, related_name="fills", db_index=False)
    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="fills", db_index=False)
    side = models.CharField(max_length=4)
    price = models.DecimalField(**PRICE)
    size = models.DecimalField(**SIZE)
    is_taker = models.BooleanField()
    fee = models.BigIntegerField(default=0)  # exchange fee, USDC base units
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "exchange", "created_at"])]


class Position(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="positions", db_index=False)
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="positions")
    outcome = models.ForeignKey(Outcome, on_delete=models.CASCADE, related_name="positions")
    size = models.DecimalField(default=0, **SIZE)
    reserved = models.DecimalField(default=0, **SIZE)  # shares held by resting sells
    average_price = models.DecimalField(default=0, max_digits=16, decimal_places=8)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "outcome"], name="sandbox_position_once")]


class Settlement(models.Model):
    """A position closed by its market's resolution or void, and what it paid the holder.

    ``amount`` (USDC base units) = size x price, rounded toward zero; the market makers, the
    counterparty of every net position, pay it. No fill or order is written for it: on Parsec a
    settlement shows only in the balance, and the position is no longer listed."""

    class Reason(models.TextChoices):
        RESOLVED = "resolved"
        VOIDED = "voided"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="settlements", db_index=False)
    exchange = models.CharField(max_length=20)
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="settlements")
    outcome = models.ForeignKey(Outcome, on_delete=models.PROTECT, related_name="settlements", db_index=False)
    size = models.DecimalField(**SIZE)  # shares held when the market settled
    average_price = models.DecimalField(max_digits=16, decimal_places=8)  # the position's average price then
    price = models.DecimalField(max_digits=16, decimal_places=8)  # paid per share
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "exchange", "created_at"])]


class Balance(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="balances", db_index=False)
    exchange = models.CharField(max_length=20)
    available = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)  # held by resting buys

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "exchange"], name="sandbox_balance_once"),
        ]


class Deposit(models.Model):
    """Money that enters the sandbox (demo balance, control-plane credit): cash is conserved against it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="deposits")
    exchange = models.CharField(max_length=20)
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=40)
    created_at = models.DateTimeField()


# --- Fee escrow, faults, usage (sandbox.escrow / sandbox.faults / sandbox.ratelimit) ---

class EscrowRecord(models.Model):
    """The sandbox's own accounting of one pulled fee, keyed by the app's bytes32
    ``fee_auth.order_id``; the chain's ``feeRecords(orderId)`` must say the same (sandbox.chain).
    Amounts are USDC base units; pulled = affiliate + treasury + refund once settled."""

    class Status(models.TextChoices):
        PULLED = "pulled"
        DISTRIBUTED = "distributed"
        PARTIALLY_DISTRIBUTED = "partially_distributed"  # the filled share paid out, the rest refunded
        REFUNDED = "refunded"

    fee_order_id = models.CharField(max_length=66, unique=True)  # 0x + 64 hex, lower case
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="escrow_record")
    builder = models.ForeignKey(Builder, on_delete=models.PROTECT, related_name="escrow_records")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="escrow_records")
    payer = models.CharField(max_length=42)
    signer = models.CharField(max_length=42)
    fee_amount = models.BigIntegerField()
    deadline = models.BigIntegerField()
    affiliate_address = models.CharField(max_length=42)
    treasury_address = models.CharField(max_length=42)
    # The builder's split when the fee was pulled: the contract keeps it with the record too.
    affiliate_share_bps = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PULLED)
    fill_ratio = models.DecimalField(max_digits=12, decimal_places=10, null=True)
    affiliate_amount = models.BigIntegerField(default=0)
    treasury_amount = models.BigIntegerField(default=0)
    refund_amount = models.BigIntegerField(default=0)
    refund_reason = models.CharField(max_length=30, blank=True, default="")
    pulled_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["status", "pulled_at"])]


class ChainOp(models.Model):
    """A transaction waiting for the sandbox chain (sandbox.chain): the mempool, in the order the
    sandbox decided things. Written in the same database transaction as the decision (a pulled
    fee, a settlement, a builder's new split), so the chain can never miss one nor get one twice;
    blocks take them in ``pk`` order past the cursor committed with each block."""

    class Kind(models.TextChoices):
        PULL = "pull"  # escrow.pullFee, sent by Parsec's operator
        SETTLE = "settle"  # escrow.settle (distribute the filled share, refund the rest)
        SPLIT = "split"  # escrow.setSplit (a builder's affiliate share)
        MINT = "mint"  # mock USDC for a wallet (the faucet)
        GAS = "gas"  # native coin for a wallet's own transactions (the faucet)
        RAW = "raw"  # a wallet's signed transaction (eth_sendRawTransaction)

    kind = models.CharField(max_length=10, choices=Kind.choices)
    args = models.JSONField()
    created_at = models.DateTimeField()
    # Filled when mined (the last time: a reverted chain mines it again).
    tx_hash = models.CharField(max_length=66, blank=True, default="")
    block_number = models.BigIntegerField(null=True)
    error = models.CharField(max_length=300, blank=True, default="")


class ChainState(models.Model):
    """The sandbox chain's key-value store (py-evm's database: tries, blocks, receipts), written
    block by block so the chain survives a restart as it was."""

    key = models.CharField(max_length=200, primary_key=True)  # hex
    value = models.BinaryField()


class ChainSnapshot(models.Model):
    """A point the chain can be reverted to (control plane, for reorg tests)."""

    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    cursor = models.BigIntegerField()  # the last ChainOp mined at that block
    created_at = models.DateTimeField()


class FaultRule(models.Model):
    """An injected fault (set through /_sandbox/faults). Scoped by endpoint/exchange/customer
    (blank = any); fires with ``probability`` and at most ``remaining`` times (null = unlimited)."""

    class Kind(models.TextChoices):
        LATENCY = "latency"  # sleep latency_ms, then serve normally
        ERROR_503 = "error_503"  # 503 service_unavailable, nothing done
        ERROR_500 = "error_500"  # 500 internal_error, nothing done
        RATE_LIMIT = "rate_limit"  # 429 rate_limit_exceeded with Retry-After, nothing done
        RESET = "reset"  # connection closed without a response, nothing done
        DROP = "drop"  # the work is done and committed, then the connection is closed without a response
        TIMEOUT = "timeout"  # the work is done, then the server sleeps latency_ms and closes without a response
        SUBMISSION_FAILURE = "submission_failure"  # orders.create: accepted, then the exchange rejects it

    kind = models.CharField(max_length=20, choices=Kind.choices)
    endpoint = models.CharField(max_length=60, blank=True, default="")  # e.g. "orders.create"; "" = any
    exchange = models.CharField(max_length=20, blank=True, default="")
    customer_id = models.CharField(max_length=36, blank=True, default="")  # acting customer's uuid
    probability = models.DecimalField(max_digits=5, decimal_places=4, default=1)
    remaining = models.PositiveIntegerField(null=True)  # null = unlimited
    latency_ms = models.PositiveIntegerField(default=0)
    retry_after = models.PositiveIntegerField(default=1)
    seed = models.BigIntegerField(null=True)  # deterministic draws when set
    fired = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()


class MonthlyUsage(models.Model):
    """Requests per API-key owner and calendar month (UTC), flushed from memory about once a second."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="monthly_usage", db_index=False)
    month = models.CharField(max_length=7)  # "2026-11"
    requests = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "month"], name="sandbox_usage_once")]
