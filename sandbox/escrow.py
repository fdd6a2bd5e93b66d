"""Fee escrow (NOTES §8, §12.7): verify ``fee_auth``, pull the fee, distribute or refund it.

Polymarket only, only for orders a builder places by impersonation with ``fee_escrow_enabled``.
The money moves on the sandbox chain (sandbox.chain), as on Polygon: from the payer's wallet
(mock USDC, approved to the escrow) into the escrow contract, then to the builder's affiliate,
Parsec's treasury and back to the payer. ``EscrowRecord`` is the sandbox's own accounting of each
fee; the chain's ``feeRecords(orderId)`` says the same once its blocks are mined (a test checks
every record). The engine calls three hooks:

- ``check_and_pull(...)`` inside the order-acceptance transaction: checks every field, recovers the
  EIP-712 signer for real (the contract checks it again), enforces the minimum (and the tier's
  maximum) fee and that the payer can pay it once its queued pulls are mined (402
  ``insufficient_funds`` otherwise), then records the fee and queues the operator's ``pullFee``.
  Any other failure raises 400 ``bad_request``; either way the whole order is rolled back.
- ``on_order_update(order, now)`` after each fill and at each terminal state: when the order ends
  (filled, cancelled, expired, rejected) the filled share of the fee is distributed (affiliate
  rounded down, treasury gets the remainder) and the rest refunded to the payer, and the
  operator's ``settle`` is queued.
- ``monitor(now)`` from the clock's tick, at most every SANDBOX_ESCROW_MONITOR_SECONDS of sandbox
  time: refunds the fee of orders stuck ``pending`` longer than SANDBOX_ESCROW_STUCK_SECONDS and
  settles records still open after SANDBOX_ESCROW_STALE_SECONDS.

The fee never touches the customer's exchange balance (Σ balances = Σ deposits still holds); on
the chain, pulled = held + paid out + refunded.

Settings (environment, read once):
SANDBOX_ESCROW_SPLIT (sandbox.fee_split): the affiliate's share, taken when the fee is pulled, as the contract does;
SANDBOX_ESCROW_UNSUPPORTED = "reject" (400 for fee_auth on Kalshi, without impersonation or with
  escrow disabled) | "ignore" (accept the order, pull nothing);
SANDBOX_ESCROW_MONITOR_SECONDS = 60; SANDBOX_ESCROW_STUCK_SECONDS = 600; SANDBOX_ESCROW_STALE_SECONDS = 86400.
The signature is always verified: the contract would refuse the pull otherwise.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

import environ
from django.db import IntegrityError, transaction

from sandbox import conf, fee_split, signing
from sandbox.chain import mempool
from sandbox.errors import INT64_MAX, UINT256_MAX, ParsecAPIError, bad_request, whole_number
from sandbox.models import EscrowRecord, Order

env = environ.Env()
UNSUPPORTED = env.str("SANDBOX_ESCROW_UNSUPPORTED", default="reject")
MONITOR_SECONDS = env.int("SANDBOX_ESCROW_MONITOR_SECONDS", default=60)
STUCK_SECONDS = env.int("SANDBOX_ESCROW_STUCK_SECONDS", default=600)
STALE_SECONDS = env.int("SANDBOX_ESCROW_STALE_SECONDS", default=86400)

DB = "sandbox"
MICRO = Decimal(1_000_000)
BPS = Decimal(10_000)
TIER_MAX_FEE_BPS = {"iron": 50, "bronze": 75, "silver": 100, "gold": 125, "platinum": 150}
BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
FIELDS = ("order_id", "payer", "fee_amount", "deadline", "signature")

# Parsec order pks with a record still "pulled": lets on_order_update skip the query for the
# (many) orders without escrow. Filled lazily from the database; a stale entry only costs a query.
_open: set[int] | None = None
_open_guard = threading.Lock()
_last_monitor: datetime | None = None


def _open_pks() -> set[int]:
    global _open
    if _open is None:
        with _open_guard:
            if _open is None:
                _open = set(EscrowRecord.objects.filter(status=EscrowRecord.Status.PULLED).values_list("order_id", flat=True))
    return _open


def forget() -> None:
    """Drop in-memory state (after a database reset)."""
    global _open, _last_monitor
    _open, _last_monitor = None, None


# --- Acceptance -------------------------------------------------------------------

def minimum_fee(builder, notional: Decimal) -> int:
    by_bps = (notional * builder.min_fee_bps / BPS * MICRO).to_integral_value(rounding=ROUND_CEILING)
    return max(int(builder.min_fee_usdc), int(by_bps))


def maximum_fee(builder, notional: Decimal) -> int:
    """The tier's maximum fee bps, but never below the minimum fee (small orders pay the floor)."""
    cap_bps = TIER_MAX_FEE_BPS.get(builder.tier, TIER_MAX_FEE_BPS["iron"])
    by_bps = (notional * cap_bps / BPS * MICRO).to_integral_value(rounding=ROUND_CEILING)
    return max(minimum_fee(builder, notional), int(by_bps))


def _unsupported(message: str) -> None:
    if UNSUPPORTED == "reject":
        raise bad_request(message)


def parse_fee_auth(fee_auth: dict) -> dict:
    """Shape checks of the five fields; returns them normalised (lower-case hex, ints)."""
    missing = [name for name in FIELDS if fee_auth.get(name) is None]
    if missing:
        raise bad_request(f"fee_auth is missing {', '.join('fee_auth.' + m for m in missing)}")
    order_id, payer, amount, deadline, signature = (fee_auth[name] for name in FIELDS)
    if not isinstance(order_id, str) or not BYTES32.match(order_id):
        raise bad_request("fee_auth.order_id must be a 0x-prefixed bytes32 hex string")
    if not isinstance(payer, str) or not ADDRESS.match(payer):
        raise bad_request("fee_auth.payer must be a 0x-prefixed 40-hex-digit address")
    fee_amount = whole_number(amount, high=UINT256_MAX)
    if not fee_amount:
        raise bad_request("fee_auth.fee_amount must be a positive integer string of USDC base units")
    if isinstance(deadline, bool) or not isinstance(deadline, int) or not 0 <= deadline <= INT64_MAX:
        raise bad_request("fee_auth.deadline must be an integer (Unix seconds)")
    if not isinstance(signature, str) or not SIGNATURE.match(signature):
        raise bad_request("fee_auth.signature must be a 0x-prefixed 65-byte hex signature")
    return {"order_id": order_id.lower(), "payer": payer.lower(), "fee_amount": fee_amount,
            "deadline": deadline, "signature": signature}


def check_and_pull(*, order: Order, fee_auth: dict, payer_address, signer_address, builder, now: datetime) -> EscrowRecord | None:
    if order.exchange != "polymarket":
        return _unsupported(f"fee escrow is available on polymarket only, not {order.exchange}")
    if builder is None:
        return _unsupported("fee_auth requires a builder key with X-Builder-Customer-Id")
    if not builder.fee_escrow_enabled:
        return _unsupported("fee escrow is not enabled for this builder")
    auth = parse_fee_auth(fee_auth)
    if payer_address is None:
        raise bad_request("payer_address is required with fee_auth")
    if not ADDRESS.match(payer_address) or payer_address.lower() != auth["payer"]:
        raise bad_request("payer_address must equal fee_auth.payer")
    if signer_address is not None and not ADDRESS.match(signer_address):
        raise bad_request("signer_address must be a 0x-prefixed 40-hex-digit address")
    if signer_address is not None and signer_address.lower() != auth["payer"]:
        raise bad_request("signer_address must equal payer_address: the escrow contract recovers the payer from the signature")
    if auth["deadline"] <= int(now.timestamp()):
        raise bad_request("fee_auth.deadline has passed")
    # The pull is mined in a later block: an authorisation that expires before then cannot be pulled.
    if auth["deadline"] <= int(now.timestamp()) + int(2 * conf.SANDBOX_CHAIN_BLOCK_SECONDS):
        raise bad_request("fee_auth.deadline is too close: the pull could not be mined before it")
    if EscrowRecord.objects.filter(fee_order_id=auth["order_id"]).exists():
        raise bad_request("fee_auth.order_id was already used")
    notional = order.price * order.size
    low, high = minimum_fee(builder, notional), maximum_fee(builder, notional)
    if auth["fee_amount"] < low:
        raise bad_request(f"fee_auth.fee_amount {auth['fee_amount']} is below the minimum fee {low}")
    if auth["fee_amount"] > high:
        raise bad_request(f"fee_auth.fee_amount {auth['fee_amount']} is above the {builder.tier} tier's maximum {high}")
    try:
        signer = signing.recover_signer(
            signature=auth["signature"], contract=builder.escrow_contract_address, order_id=auth["order_id"],
            payer=auth["payer"], fee_amount=auth["fee_amount"], deadline=auth["deadline"],
        )
    except ValueError:
        raise bad_request("fee_auth.signature is not a valid EIP-712 signature") from None
    if signer.lower() != auth["payer"]:
        raise bad_request(f"fee_auth.signature was signed by {signer}, not by {auth['payer']}")
    balance, allowance = mempool.affordable(auth["payer"])
    if balance < auth["fee_amount"] or allowance < auth["fee_amount"]:
        raise ParsecAPIError(402, "insufficient_funds", (
            f"payer {auth['payer']} can pay {max(min(balance, allowance), 0)} USDC base units into the escrow "
            f"(balance {max(balance, 0)}, allowance to the escrow {max(allowance, 0)}), below the fee {auth['fee_amount']}"))
    try:
        with transaction.atomic(using=DB):
            record = EscrowRecord.objects.create(
                fee_order_id=auth["order_id"], order=order, builder=builder, customer_id=order.customer_id,
                payer=auth["payer"], signer=auth["payer"], fee_amount=auth["fee_amount"], deadline=auth["deadline"],
                affiliate_address=(builder.affiliate_address or "").lower(), treasury_address=builder.treasury_address.lower(),
                affiliate_share_bps=fee_split.affiliate_share_bps(builder), pulled_at=now,
            )
    except IntegrityError:
        raise bad_request("fee_auth.order_id was already used") from None
    mempool.pull(record=record, signature=auth["signature"], now=now)
    _open_pks().add(order.pk)
    return record


# --- Settlement -------------------------------------------------------------------

def split(fee: int, *, filled: Decimal, size: Decimal, share_bps: int, has_affiliate: bool) -> tuple[int, int, int]:
    """(affiliate, treasury, refund): the filled share of the fee (rounded down, the payer keeps the
    rounding) is split; affiliate rounded down, treasury the remainder; the rest is refunded.
    Exact arithmetic, as the contract's integers: fee * filled // size, never a rounded ratio
    (a 28-digit 1/3 times 300 is 99.99…, not 100)."""
    ratio = min(max(Fraction(filled) / Fraction(size), Fraction(0)), Fraction(1)) if size else Fraction(0)
    distributed = int(fee * ratio)  # floor: both are non-negative
    affiliate = distributed * share_bps // 10_000 if has_affiliate else 0
    return affiliate, distributed - affiliate, fee - distributed


def settle(record: EscrowRecord, *, filled: Decimal, size: Decimal, reason: str, now: datetime) -> bool:
    """Distribute the filled share and refund the rest, exactly once (a conditional update)."""
    affiliate, treasury, refund = split(
        record.fee_amount, filled=filled, size=size, share_bps=record.affiliate_share_bps,
        has_affiliate=bool(record.affiliate_address),
    )
    if refund == record.fee_amount:
        status = EscrowRecord.Status.REFUNDED
    elif refund == 0:
        status = EscrowRecord.Status.DISTRIBUTED
    else:
        status = EscrowRecord.Status.PARTIALLY_DISTRIBUTED
    ratio = (filled / size).quantize(Decimal("0.0000000001")) if size else Decimal(0)
    with transaction.atomic(using=DB):
        won = EscrowRecord.objects.filter(pk=record.pk, status=EscrowRecord.Status.PULLED).update(
            status=status, fill_ratio=ratio, affiliate_amount=affiliate, treasury_amount=treasury,
            refund_amount=refund, refund_reason=reason if refund else "", settled_at=now,
        )
        if not won:
            return False
        mempool.settle(record=record, filled=filled, size=size, reason=reason, now=now)
    _open_pks().discard(record.order_id)
    return True


def on_order_update(order: Order, now: datetime) -> None:
    if order.status in Order.LIVE or order.pk not in _open_pks():
        return
    record = EscrowRecord.objects.select_related("builder").filter(order_id=order.pk, status=EscrowRecord.Status.PULLED).first()
    if record is None:
        _open_pks().discard(order.pk)
        return
    record.order = order
    settle(record, filled=order.filled, size=order.size, reason=order.status, now=now)


def monitor(now: datetime) -> int:
    """The escrow monitor loop: runs at most once per MONITOR_SECONDS of sandbox time."""
    global _last_monitor
    if _last_monitor is not None and now - _last_monitor < timedelta(seconds=MONITOR_SECONDS) and now >= _last_monitor:
        return 0
    _last_monitor = now
    done = 0
    stuck = EscrowRecord.objects.select_related("builder", "order").filter(
        status=EscrowRecord.Status.PULLED, order__status=Order.Status.PENDING,
        pulled_at__lte=now - timedelta(seconds=STUCK_SECONDS),
    )
    for record in stuck:
        done += settle(record, filled=Decimal(0), size=record.order.size, reason="stuck_pending", now=now)
    stale = EscrowRecord.objects.select_related("builder", "order").filter(
        status=EscrowRecord.Status.PULLED, pulled_at__lte=now - timedelta(seconds=STALE_SECONDS),
    )
    for record in stale:
        done += settle(record, filled=record.order.filled, size=record.order.size, reason="stale", now=now)
    return done
