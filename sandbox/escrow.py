"""Fee escrow (NOTES §8, §12.7): verify ``fee_auth``, pull the fee, distribute or refund it.

Polymarket only, only for orders a builder places by impersonation with ``fee_escrow_enabled``.
The engine calls three hooks:

- ``check_and_pull(...)`` inside the order-acceptance transaction: checks every field, recovers the
  EIP-712 signer for real, enforces the minimum (and the tier's maximum) fee, then moves the fee
  from the end-user's Polymarket balance into an ``EscrowRecord`` (event FeePulled). Any failure
  raises 400 ``bad_request`` (402 ``insufficient_funds`` when the balance is short) and the whole
  order is rolled back.
- ``on_order_update(order, now)`` after each fill and at each terminal state: when the order ends
  (filled, cancelled, expired, rejected) the filled share of the fee is distributed (affiliate
  rounded down, treasury gets the remainder; event FeeDistributed) and the rest refunded to the
  payer (event FeeRefunded).
- ``monitor(now)`` from the clock's tick, at most every SANDBOX_ESCROW_MONITOR_SECONDS of sandbox
  time: refunds the fee of orders stuck ``pending`` longer than SANDBOX_ESCROW_STUCK_SECONDS and
  settles records still open after SANDBOX_ESCROW_STALE_SECONDS.

Money leaves the sandbox's accounts into the record and comes back only as a refund; affiliate
and treasury payouts go to on-chain addresses outside it. So: Σ balances + Σ escrow held +
Σ paid out = Σ deposits.

Settings (environment, read once):
SANDBOX_ESCROW_SPLIT = "affiliate_fee_bps" (share = config affiliate_fee_bps/10000) | "tier_share"
  (the builder tier's share, 15/25/35/40/45 %);
SANDBOX_ESCROW_UNSUPPORTED = "reject" (400 for fee_auth on Kalshi, without impersonation or with
  escrow disabled) | "ignore" (accept the order, pull nothing);
SANDBOX_ESCROW_VERIFY_SIGNATURE = true; SANDBOX_ESCROW_MONITOR_SECONDS = 60;
SANDBOX_ESCROW_STUCK_SECONDS = 600; SANDBOX_ESCROW_STALE_SECONDS = 86400.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

import environ
from django.db import IntegrityError, transaction
from django.db.models import F

from sandbox import signing
from sandbox.errors import INT64_MAX, UINT256_MAX, ParsecAPIError, bad_request, whole_number
from sandbox.models import Balance, EscrowEvent, EscrowRecord, Order

env = environ.Env()
SPLIT = env.str("SANDBOX_ESCROW_SPLIT", default="affiliate_fee_bps")
UNSUPPORTED = env.str("SANDBOX_ESCROW_UNSUPPORTED", default="reject")
VERIFY_SIGNATURE = env.bool("SANDBOX_ESCROW_VERIFY_SIGNATURE", default=True)
MONITOR_SECONDS = env.int("SANDBOX_ESCROW_MONITOR_SECONDS", default=60)
STUCK_SECONDS = env.int("SANDBOX_ESCROW_STUCK_SECONDS", default=600)
STALE_SECONDS = env.int("SANDBOX_ESCROW_STALE_SECONDS", default=86400)

DB = "sandbox"
MICRO = Decimal(1_000_000)
BPS = Decimal(10_000)
TIER_SHARE_BPS = {"iron": 1500, "bronze": 2500, "silver": 3500, "gold": 4000, "platinum": 4500}
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
    if auth["deadline"] <= int(now.timestamp()):
        raise bad_request("fee_auth.deadline has passed")
    if EscrowRecord.objects.filter(fee_order_id=auth["order_id"]).exists():
        raise bad_request("fee_auth.order_id was already used")
    notional = order.price * order.size
    low, high = minimum_fee(builder, notional), maximum_fee(builder, notional)
    if auth["fee_amount"] < low:
        raise bad_request(f"fee_auth.fee_amount {auth['fee_amount']} is below the minimum fee {low}")
    if auth["fee_amount"] > high:
        raise bad_request(f"fee_auth.fee_amount {auth['fee_amount']} is above the {builder.tier} tier's maximum {high}")
    expected_signer = (signer_address or auth["payer"]).lower()
    if VERIFY_SIGNATURE:
        try:
            signer = signing.recover_signer(
                signature=auth["signature"], contract=builder.escrow_contract_address, order_id=auth["order_id"],
                payer=auth["payer"], fee_amount=auth["fee_amount"], deadline=auth["deadline"],
            )
        except ValueError:
            raise bad_request("fee_auth.signature is not a valid EIP-712 signature") from None
        if signer.lower() != expected_signer:
            raise bad_request(f"fee_auth.signature was signed by {signer}, not by {expected_signer}")
    took = Balance.objects.filter(customer_id=order.customer_id, exchange="polymarket", available__gte=auth["fee_amount"]).update(
        available=F("available") - auth["fee_amount"]
    )
    if not took:
        raise ParsecAPIError(402, "insufficient_funds", "payer balance is below the fee amount")
    try:
        with transaction.atomic(using=DB):
            record = EscrowRecord.objects.create(
                fee_order_id=auth["order_id"], order=order, builder=builder, customer_id=order.customer_id,
                payer=auth["payer"], signer=expected_signer, fee_amount=auth["fee_amount"], deadline=auth["deadline"],
                affiliate_address=(builder.affiliate_address or "").lower(), treasury_address=builder.treasury_address.lower(),
                pulled_at=now,
            )
    except IntegrityError:
        raise bad_request("fee_auth.order_id was already used") from None
    _event(record, "FeePulled", now, payer=record.payer, amount=str(record.fee_amount))
    _open_pks().add(order.pk)
    return record


# --- Settlement -------------------------------------------------------------------

def affiliate_share_bps(builder) -> int:
    if SPLIT == "tier_share":
        return TIER_SHARE_BPS.get(builder.tier, TIER_SHARE_BPS["iron"])
    return int(builder.affiliate_fee_bps)


def split(fee: int, *, filled: Decimal, size: Decimal, share_bps: int, has_affiliate: bool) -> tuple[int, int, int]:
    """(affiliate, treasury, refund): the filled share of the fee (rounded down, the payer keeps the
    rounding) is split; affiliate rounded down, treasury the remainder; the rest is refunded."""
    ratio = min(max(filled / size, Decimal(0)), Decimal(1)) if size else Decimal(0)
    distributed = int((Decimal(fee) * ratio).to_integral_value(rounding=ROUND_DOWN))
    affiliate = int((Decimal(distributed) * share_bps / BPS).to_integral_value(rounding=ROUND_DOWN)) if has_affiliate else 0
    return affiliate, distributed - affiliate, fee - distributed


def settle(record: EscrowRecord, *, filled: Decimal, size: Decimal, reason: str, now: datetime) -> bool:
    """Distribute the filled share and refund the rest, exactly once (a conditional update)."""
    affiliate, treasury, refund = split(
        record.fee_amount, filled=filled, size=size, share_bps=affiliate_share_bps(record.builder),
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
        if affiliate + treasury:
            _event(record, "FeeDistributed", now, affiliate=record.affiliate_address or None, affiliate_amount=str(affiliate),
                   treasury=record.treasury_address, treasury_amount=str(treasury))
        if refund:
            Balance.objects.filter(customer_id=record.customer_id, exchange="polymarket").update(available=F("available") + refund)
            _event(record, "FeeRefunded", now, payer=record.payer, amount=str(refund), reason=reason)
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


# --- Chain stand-in -----------------------------------------------------------------

def _event(record: EscrowRecord, name: str, now: datetime, **data) -> None:
    EscrowEvent.objects.create(record=record, name=name, created_at=now,
                               data={"orderId": record.fee_order_id, "parsecOrderId": record.order.order_id, **data})


def render(record: EscrowRecord) -> dict:
    iso = lambda value: value.isoformat().replace("+00:00", "Z") if value else None  # noqa: E731
    return {
        "order_id": record.fee_order_id,
        "parsec_order_id": record.order.order_id,
        "customer_id": str(record.customer.customer_id),
        "status": record.status,
        "payer": record.payer,
        "signer": record.signer,
        "fee_amount": str(record.fee_amount),
        "deadline": record.deadline,
        "affiliate": record.affiliate_address or None,
        "treasury": record.treasury_address,
        "fill_ratio": None if record.fill_ratio is None else str(record.fill_ratio.normalize()),
        "affiliate_amount": str(record.affiliate_amount),
        "treasury_amount": str(record.treasury_amount),
        "refund_amount": str(record.refund_amount),
        "refund_reason": record.refund_reason or None,
        "held_amount": str(record.fee_amount if record.status == EscrowRecord.Status.PULLED else 0),
        "pulled_at": iso(record.pulled_at),
        "settled_at": iso(record.settled_at),
        "events": [{"event": e.name, "args": e.data, "timestamp": iso(e.created_at)} for e in record.events.all()],
    }
