"""Fee escrow from the back-office: check a ``fee_auth`` locally, keep one record per fee, follow it.

- ``check_fee_auth(...)`` recovers the EIP-712 ``PullFee`` signer with eth-account and refuses an
  order off Polymarket, a wrong signer, a payer that is not one of the customer's wallets, a passed
  deadline, an amount below the minimum or above the tier's maximum and an escrow order id we have
  already used, before Parsec hears of the order.
- ``authorise(*, intent, actor, fee_auth, config)`` checks and writes the ``FeeEscrowRecord``
  (``authorised``); the one placement entry (``orders.services.submit_intent``) calls it and
  settles the record from Parsec's answer (pulled, or refused).
- ``check_record(*, record)`` derives the lifecycle (pulled → distributed / partially distributed
  + refunded / refunded) and the three amounts from the order's fills and status, reads the
  chain's ``feeRecords`` through an ``EscrowChainReader`` and flags any difference.

The back-office never holds an end-user's key. In production the signed ``fee_auth`` comes from
the builder's app; ``sandbox_fee_auth`` asks a sandbox demo wallet to sign, for rehearsals only.
The signature is sent to Parsec and kept nowhere (not in the record, the intent or the audit log).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address

from core.db import assert_no_transaction
from core.errors import DomainError
from core.formatting import plain
from core.money import usdc_from_base_units
from customers.enums import Exchange
from orders import fees
from orders.models import FeeEscrowRecord, Order, OrderIntent

logger = logging.getLogger(__name__)

# EIP-712 domain of Parsec's fee escrow (NOTES §8.3). The product may not import the
# sandbox (they meet over HTTP only), so this is written here from the spec, not shared.
DOMAIN_NAME = "ParsecFeeEscrow"
DOMAIN_VERSION = "1"
CHAIN_ID = 137
PULL_FEE_TYPE = [
    {"name": "orderId", "type": "bytes32"},
    {"name": "payer", "type": "address"},
    {"name": "feeAmount", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
BPS = Decimal(10_000)
# Parsec's escrow monitor settles a record still open after 24 hours (NOTES §8.7).
STALE_SECONDS = 86_400


class FeeAuthError(DomainError):
    """A ``fee_auth`` we refuse to send; ``code`` names the check, ``message`` is for people."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code, field="fee_auth")


# --- Local checks -------------------------------------------------------------------------


def pull_fee_typed_data(*, contract: str, order_id: str, payer: str, fee_amount: int, deadline: int) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            ],
            "PullFee": PULL_FEE_TYPE,
        },
        "primaryType": "PullFee",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": CHAIN_ID,
                   "verifyingContract": to_checksum_address(contract)},
        "message": {"orderId": bytes.fromhex(order_id.removeprefix("0x")), "payer": to_checksum_address(payer),
                    "feeAmount": int(fee_amount), "deadline": int(deadline)},
    }


def recover_signer(*, fee_auth, contract: str) -> str:
    message = encode_typed_data(full_message=pull_fee_typed_data(
        contract=contract, order_id=fee_auth.order_id, payer=fee_auth.payer, fee_amount=fee_auth.fee_amount,
        deadline=fee_auth.deadline,
    ))
    try:
        return Account.recover_message(message, signature=fee_auth.signature)
    except Exception:  # eth-keys raises several types for malformed bytes
        raise FeeAuthError("The fee signature is not a valid EIP-712 signature.", code="bad_signature") from None


def fee_order_id_used(fee_order_id: str, *, intent: OrderIntent | None = None) -> bool:
    """Used by another order: a fee record or an intent other than ``intent`` (an intent carries its
    own id before it is sent, and a resumed send finds its own record)."""
    fee_order_id = fee_order_id.lower()
    others = OrderIntent.objects.filter(fee_auth_order_id__iexact=fee_order_id)
    records = FeeEscrowRecord.objects.filter(fee_order_id=fee_order_id)
    if intent is not None and intent.pk:
        others = others.exclude(pk=intent.pk)
        records = records.exclude(intent_id=intent.pk)
    return records.exists() or others.exists()


def check_fee_auth(*, fee_auth, config, customer, exchange: str, price: Decimal, size: Decimal,
                   intent: OrderIntent | None = None, now: datetime | None = None) -> None:
    """Raise ``FeeAuthError`` unless the authorisation would pass Parsec's escrow as we know it and
    is paid by this order's customer: escrow on Polymarket only, enabled, well-formed, signed by
    the payer, the payer one of the customer's wallets, before its deadline, between the builder's
    minimum and the tier's maximum, its escrow order id never used."""
    now = now or timezone.now()
    if exchange != Exchange.POLYMARKET:
        raise FeeAuthError(f"The fee escrow is on Polymarket only; an order on {exchange_label(exchange)} carries no fee.",
                           code="escrow_polymarket_only")
    if not config.fee_escrow_enabled:
        raise FeeAuthError("Fee escrow is not enabled for this builder at Parsec.", code="escrow_disabled")
    if not BYTES32.match(fee_auth.order_id or ""):
        raise FeeAuthError("The escrow order id must be a 0x-prefixed bytes32 (64 hex digits).", code="bad_order_id")
    if not ADDRESS.match(fee_auth.payer or ""):
        raise FeeAuthError("The payer must be a 0x-prefixed 40-hex-digit address.", code="bad_payer")
    signer = recover_signer(fee_auth=fee_auth, contract=config.escrow_contract_address)
    if signer.lower() != fee_auth.payer.lower():
        raise FeeAuthError(f"The fee was signed by {signer}, not by the payer {to_checksum_address(fee_auth.payer)}.",
                           code="wrong_signer")
    if not customer.wallets.filter(address__iexact=fee_auth.payer).exists():
        raise FeeAuthError(f"The payer {to_checksum_address(fee_auth.payer)} is not one of {customer}'s wallets; "
                           "a customer's fee is paid from their own wallet.", code="payer_not_customer")
    if int(fee_auth.deadline) <= int(now.timestamp()):
        raise FeeAuthError("The fee authorisation's deadline has passed; ask the payer to sign again.", code="expired")
    minimum = fees.minimum_fee(price=price, size=size, min_fee_usdc=config.min_fee_usdc, min_fee_bps=config.min_fee_bps)
    if int(fee_auth.fee_amount) < minimum:
        raise FeeAuthError(f"The fee {plain(usdc_from_base_units(int(fee_auth.fee_amount)))} USDC is below the minimum "
                           f"{plain(usdc_from_base_units(minimum))} USDC.",
                           code="below_minimum")
    maximum = fees.maximum_fee(price=price, size=size, config=config)
    if int(fee_auth.fee_amount) > maximum:
        raise FeeAuthError(f"The fee {plain(usdc_from_base_units(int(fee_auth.fee_amount)))} USDC is above the maximum "
                           f"{plain(usdc_from_base_units(maximum))} USDC for this order (the builder tier's "
                           f"{fees.TIER_MAX_FEE_BPS.get(settings.PARSEC_BUILDER_TIER.lower(), fees.TIER_MAX_FEE_BPS['iron'])} "
                           "bps of its notional).", code="above_maximum")
    if fee_order_id_used(fee_auth.order_id, intent=intent):
        raise FeeAuthError("This escrow order id was already used; every order needs a fresh one.", code="reused_order_id")


def exchange_label(exchange: str) -> str:
    return Exchange(exchange).label if exchange in Exchange.values else (exchange or "no exchange")


def new_fee_order_id() -> str:
    return "0x" + secrets.token_hex(32)


# --- Placing with a fee ----------------------------------------------------------------------


def sandbox_signing_available() -> bool:
    """Demo wallets can sign only against the sandbox (its control plane needs the admin key)."""
    return bool(getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", ""))


def customer_wallet_address(customer) -> str | None:
    wallet = customer.wallets.order_by("pk").first()
    return wallet.address if wallet else None


def sandbox_fee_auth(*, intent: OrderIntent, deadline: int | None = None):
    """SANDBOX ONLY: the customer's demo wallet signs the intent's fee (operators' rehearsal)."""
    from parsec.client import get_client

    if not sandbox_signing_available():
        raise FeeAuthError("Only the sandbox can sign for a customer; in production the builder's app sends the signed fee.",
                           code="no_sandbox_signing")
    address = customer_wallet_address(intent.customer)
    if not address or not intent.fee_base_units or not intent.fee_auth_order_id:
        raise FeeAuthError("This order has no fee to sign, or the customer has no wallet.", code="nothing_to_sign")
    from parsec.errors import NotFound

    try:
        return get_client().sandbox_sign_fee_auth(address=address, fee_amount=intent.fee_base_units,
                                                  order_id=intent.fee_auth_order_id, deadline=deadline).fee_auth
    except NotFound:
        raise FeeAuthError("The customer's wallet is not a sandbox demo wallet; it cannot sign here.",
                           code="not_a_demo_wallet") from None


def escrow_config():
    from parsec.client import get_client

    return get_client().get_escrow_config()


def fee_auth_audit(fee_auth) -> dict:
    """A fee authorisation as the audit log keeps it: everything but the signature."""
    return {"fee_order_id": fee_auth.order_id, "payer": fee_auth.payer, "fee_base_units": int(fee_auth.fee_amount),
            "deadline": int(fee_auth.deadline)}


def refuse_fee_auth(*, exc: FeeAuthError, fee_auth, customer, actor, intent: OrderIntent | None = None) -> None:
    """The audit row of a refused authorisation (nothing else is written)."""
    from audit.services import record_action

    request = ({"intent": str(intent.key)} if intent is not None else {}) | fee_auth_audit(fee_auth)
    record_action(actor=actor, action="escrow.authorise", customer=customer, request=request, outcome="rejected",
                  response={"code": exc.code, "error": exc.message})


def authorise(*, intent: OrderIntent, fee_auth, config, actor) -> FeeEscrowRecord:
    """Check the authorisation and write its record (``authorised``); audited either way. A send
    resumed after a crash finds the record it wrote the first time."""
    from audit.services import record_action

    existing = FeeEscrowRecord.objects.filter(intent=intent, fee_order_id=str(fee_auth.order_id).lower()).first()
    if existing is not None:
        return existing
    request = {"intent": str(intent.key), "fee_order_id": fee_auth.order_id, "payer": fee_auth.payer,
               "fee_base_units": int(fee_auth.fee_amount), "deadline": int(fee_auth.deadline)}
    try:
        if intent.fee_base_units and int(fee_auth.fee_amount) != intent.fee_base_units:
            raise FeeAuthError("The signed fee differs from the fee on this order.", code="fee_mismatch")
        check_fee_auth(fee_auth=fee_auth, config=config, customer=intent.customer, exchange=intent.exchange,
                       price=intent.price, size=intent.size, intent=intent)
        try:
            with transaction.atomic():
                record = FeeEscrowRecord.objects.create(
                    fee_order_id=fee_auth.order_id.lower(), customer=intent.customer, intent=intent,
                    payer=fee_auth.payer.lower(), fee_base_units=int(fee_auth.fee_amount), deadline=int(fee_auth.deadline),
                    affiliate_fee_bps=config.affiliate_fee_bps, has_affiliate=bool(config.affiliate_address),
                )
                OrderIntent.objects.filter(pk=intent.pk).update(
                    fee_auth_order_id=record.fee_order_id, fee_base_units=record.fee_base_units,
                )
        except IntegrityError:
            raise FeeAuthError("This escrow order id was already used; every order needs a fresh one.",
                               code="reused_order_id") from None
    except FeeAuthError as exc:
        refuse_fee_auth(exc=exc, fee_auth=fee_auth, customer=intent.customer, actor=actor, intent=intent)
        raise
    record_action(actor=actor, action="escrow.authorise", customer=intent.customer, request=request, outcome="ok",
                  response={"record": record.pk})
    return record


# --- Lifecycle --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    state: str
    affiliate: int = 0
    treasury: int = 0
    refund: int = 0
    reason: str = ""


def split(*, fee: int, filled: Decimal, size: Decimal, affiliate_fee_bps: int, has_affiliate: bool, reason: str = "") -> Settlement:
    """The filled share of the fee is distributed (rounded down: the payer keeps the rounding),
    the affiliate gets ``affiliate_fee_bps`` of it (rounded down), the treasury the remainder; the
    rest goes back to the payer."""
    ratio = min(max(Decimal(filled) / Decimal(size), Decimal(0)), Decimal(1)) if size else Decimal(0)
    distributed = int((Decimal(fee) * ratio).to_integral_value(rounding=ROUND_DOWN))
    affiliate = int((Decimal(distributed) * affiliate_fee_bps / BPS).to_integral_value(rounding=ROUND_DOWN)) if has_affiliate else 0
    refund = fee - distributed
    if refund == fee:
        state = FeeEscrowRecord.State.REFUNDED
    elif refund == 0:
        state = FeeEscrowRecord.State.DISTRIBUTED
    else:
        state = FeeEscrowRecord.State.PARTIALLY_DISTRIBUTED
    return Settlement(state, affiliate, distributed - affiliate, refund, reason if refund else "")


def expected_settlement(*, record: FeeEscrowRecord, order: Order | None, chain, now: datetime) -> Settlement:
    """What the escrow should show, from the order alone (and, for the timed refunds, the time the
    fee has been held: on the chain's clock when the chain has settled it, else on ours)."""
    if order is None:
        intent_status = record.intent.status if record.intent_id else None
        if intent_status in (OrderIntent.Status.REJECTED, OrderIntent.Status.NOT_PLACED, OrderIntent.Status.WITHDRAWN):
            return Settlement(FeeEscrowRecord.State.REFUSED, reason="not_placed")
        return Settlement(FeeEscrowRecord.State.PULLED if record.pulled_at else FeeEscrowRecord.State.AUTHORISED)
    args = {"fee": record.fee_base_units, "size": order.size, "affiliate_fee_bps": record.affiliate_fee_bps,
            "has_affiliate": record.has_affiliate}
    if order.status in Order.TERMINAL_STATUSES:
        return split(filled=order.filled, reason=order.status, **args)
    if chain is not None and chain.pulled_at and chain.settled_at:
        held = (chain.settled_at - chain.pulled_at).total_seconds()  # both on the chain's clock
    else:
        held = (now - (record.pulled_at or record.created_at)).total_seconds()  # both on ours
    if order.status == Order.Status.PENDING and held >= settings.ESCROW_STUCK_SECONDS:
        return split(filled=Decimal(0), reason="stuck_pending", **args)
    if held >= STALE_SECONDS:
        return split(filled=order.filled, reason="stale", **args)
    return Settlement(FeeEscrowRecord.State.PULLED)


def chain_reader():
    """The ``EscrowChainReader`` in use: the escrow contract read over ESCROW_RPC_URL (the sandbox's
    chain in the embedded default); None when none is configured."""
    from parsec.escrow_chain import escrow_reader

    return escrow_reader()


def _mirrored_order(record: FeeEscrowRecord) -> Order | None:
    return record.order or (record.intent.order if record.intent_id and record.intent.order_id else None)


def _refresh_order(record: FeeEscrowRecord) -> Order | None:
    """Bring the mirrored order up to date through the sync's mapping (one Parsec read)."""
    from orders.sync import upsert_placed_order
    from parsec.client import get_client

    order = _mirrored_order(record)
    if order is None:
        return None
    try:
        fresh = get_client().get_order(customer_id=str(record.customer.parsec_customer_id), exchange=order.exchange,
                                       order_id=order.parsec_order_id)
    except Exception:
        logger.info("order %s not refreshed before the escrow check", order.parsec_order_id, exc_info=True)
        return order
    return upsert_placed_order(customer=record.customer, exchange=order.exchange, order=fresh)


# --- Reconciliation: what we expect against what the chain holds ---------------------------------


@dataclass(frozen=True)
class ChainRead:
    """``feeRecords`` for some fee order ids, and the head block they were read at."""

    block: int
    records: dict


def read_chain(*, reader, fee_order_ids: list[str]) -> ChainRead:
    """One read of the escrow for these ids through the gateway (one ``eth_call``, or batches)."""
    if len(fee_order_ids) == 1:
        records = {fee_order_ids[0]: reader.fee_record(fee_order_ids[0])}
    else:
        records = reader.fee_records(fee_order_ids)
    blocks = [found.block_number for found in records.values() if found is not None and found.block_number is not None]
    return ChainRead(block=max(blocks) if blocks else reader.head().number, records=records)


@dataclass(frozen=True)
class Verdict:
    reconciliation: str
    problems: list
    behind: bool = False  # the chain has not (yet) shown what we expect


def _still_pending(record: FeeEscrowRecord, *, block: int, now: datetime) -> bool:
    """Within ESCROW_CHAIN_PENDING_BLOCKS blocks (and ESCROW_CHAIN_PENDING_SECONDS, for a chain that
    stopped) of first seeing the chain behind what we expect: its transaction may not be mined yet."""
    since_block = record.chain_behind_since_block if record.chain_behind_since_block is not None else block
    since = record.chain_behind_since or now
    return (block - since_block < settings.ESCROW_CHAIN_PENDING_BLOCKS
            and (now - since).total_seconds() < settings.ESCROW_CHAIN_PENDING_SECONDS)


def _undone_by_reorg(record: FeeEscrowRecord) -> list[str]:
    """The events a reorg removed that the chain has not given again."""
    from orders.models import FeeEscrowEvent

    events = list(FeeEscrowEvent.objects.filter(record=record))
    live = {event.kind for event in events if event.dropped_at is None}
    return [f"a reorg dropped {event.kind} of {event.amount} (tx {event.tx_hash}, block {event.block_number})"
            for event in events if event.dropped_at is not None and event.kind not in live]


def judge(*, record: FeeEscrowRecord, order: Order | None, expected: Settlement, chain, block: int,
          now: datetime) -> Verdict:
    """Our expectation against the chain's record, to the base unit. The chain may lag us by a few
    blocks (its transactions are mined after Parsec answers): that is *pending on chain*, not a
    difference, until the window passes; a fee still pulled ESCROW_STUCK_SECONDS after the pull
    when it should have been settled is *stuck*."""
    R, S = FeeEscrowRecord.Reconciliation, FeeEscrowRecord.State
    unresolved = order is None and record.intent_id and record.intent.status in OrderIntent.UNRESOLVED_STATUSES
    if chain is None:
        if expected.state in (S.AUTHORISED, S.REFUSED):
            return Verdict(R.MATCHES, [])  # never pulled, and the chain agrees
        if _still_pending(record, block=block, now=now):
            return Verdict(R.PENDING, [], behind=True)
        return Verdict(R.MISSING, ["the escrow has no record for this fee order id"], behind=True)
    if expected.state in (S.AUTHORISED, S.REFUSED):
        if unresolved:  # the order may exist at Parsec: its reconciliation will say
            return Verdict(R.PENDING, [])
        return Verdict(R.NOT_OURS, ["the escrow holds a record for an order we did not place"])
    ours = {"state": expected.state, "fee": record.fee_base_units, "payer": record.payer,
            "affiliate": expected.affiliate, "treasury": expected.treasury, "refund": expected.refund}
    theirs = {"state": chain.state, "fee": chain.fee_amount, "payer": (chain.payer or "").lower(),
              "affiliate": chain.affiliate_amount, "treasury": chain.treasury_amount, "refund": chain.refund_amount}
    problems = [f"{name}: ours {ours[name]}, escrow {theirs[name]}" for name in ours if ours[name] != theirs[name]]
    if order is not None and chain.parsec_order_id and chain.parsec_order_id != order.parsec_order_id:
        problems.append(f"order: ours {order.parsec_order_id}, escrow {chain.parsec_order_id}")
    if not problems:
        return Verdict(R.MATCHES, [])
    if ours["fee"] != theirs["fee"] or ours["payer"] != theirs["payer"]:
        return Verdict(R.AMOUNTS_DIFFER, problems)
    chain_behind = chain.state == S.PULLED and expected.state in FeeEscrowRecord.SETTLED_STATES
    mirror_behind = expected.state == S.PULLED and chain.state in FeeEscrowRecord.SETTLED_STATES
    if chain_behind or mirror_behind:
        undone = _undone_by_reorg(record) if chain_behind else []
        if undone:
            return Verdict(R.REORG, [*undone, "the escrow shows the fee pulled again", *problems], behind=True)
        pulled = record.pulled_at or record.created_at
        held = (now - pulled).total_seconds()
        if _still_pending(record, block=block, now=now) or (chain_behind and held < settings.ESCROW_STUCK_SECONDS):
            return Verdict(R.PENDING, [], behind=True)
        if chain_behind:
            status = order.get_status_display().lower() if order is not None else "unknown"
            return Verdict(R.STUCK, [f"stuck in escrow: pulled {int(held // 60)} min ago and not settled (the order is "
                                     f"{status})", *problems], behind=True)
        return Verdict(R.DIFFERS, problems, behind=True)
    if chain.state == S.REFUNDED and expected.state in (S.DISTRIBUTED, S.PARTIALLY_DISTRIBUTED):
        filled = f"{plain(order.filled)} of {plain(order.size)}" if order is not None else "some"
        return Verdict(R.REFUNDED_NOT_FILLED, [f"the escrow refunded the whole fee ({chain.refund_reason or 'no reason'}) "
                                               f"but the order filled {filled}", *problems])
    if chain.state == expected.state:
        return Verdict(R.AMOUNTS_DIFFER, problems)
    return Verdict(R.DIFFERS, problems)


def _load(pk: int) -> FeeEscrowRecord:
    return FeeEscrowRecord.objects.select_related("customer", "intent__order", "order").get(pk=pk)


def reconcile(*, record: FeeEscrowRecord, order: Order | None, read: ChainRead | None, now: datetime,
              reload: bool = True) -> FeeEscrowRecord:
    """Store our derivation, the chain's record as read, and the verdict; audit a new difference."""
    chain = read.records.get(record.fee_order_id) if read is not None else None
    expected = expected_settlement(record=record, order=order, chain=chain, now=now)
    if read is None:
        verdict = Verdict(FeeEscrowRecord.Reconciliation.UNCHECKED, [])
    else:
        verdict = judge(record=record, order=order, expected=expected, chain=chain, block=read.block, now=now)
    discrepancy = "; ".join(verdict.problems)
    settled = expected.state not in FeeEscrowRecord.OPEN_STATES
    behind_since = (record.chain_behind_since or now) if verdict.behind else None
    behind_block = (record.chain_behind_since_block if record.chain_behind_since_block is not None else read.block) \
        if verdict.behind else None
    chain_fields = {
        "chain_state": chain.state if chain else "", "chain_record": chain.raw if chain else {}, "chain_block": read.block,
        "chain_read_at": now, "chain_error": "", "reconciliation": verdict.reconciliation, "discrepancy": discrepancy,
        "chain_behind_since": behind_since, "chain_behind_since_block": behind_block,
    } if read is not None else {
        "chain_error": "no escrow chain reader is configured (ESCROW_RPC_URL): not checked against the chain",
        "reconciliation": verdict.reconciliation, "discrepancy": "",
    }
    FeeEscrowRecord.objects.filter(pk=record.pk).update(
        state=expected.state, affiliate_base_units=expected.affiliate, treasury_base_units=expected.treasury,
        refund_base_units=expected.refund, refund_reason=expected.reason, order=order,
        pulled_at=record.pulled_at or (chain.pulled_at if chain else None) or (now if order is not None else None),
        settled_at=(record.settled_at or (chain.settled_at if chain else None) or now) if settled else None,
        checked_at=now, **chain_fields,
    )
    if discrepancy and discrepancy != record.discrepancy:
        from audit.services import record_action

        record_action(actor=None, action="escrow.discrepancy", customer=record.customer,
                      request={"fee_order_id": record.fee_order_id}, outcome="error",
                      response={"reconciliation": verdict.reconciliation, "discrepancy": discrepancy})
    if reload:
        record.refresh_from_db()
    return record


def chain_error_text(error) -> str:
    """A chain failure in a sentence for the pages: what to do, and which read failed (a
    misconfiguration says exactly what does not match)."""
    from parsec.errors import ChainMisconfigured

    if isinstance(error, ChainMisconfigured):
        return str(error)[:2000]
    return f"{error.action} ({error.rpc_method or 'RPC'} failed)"[:2000]


def _unreachable(*, record: FeeEscrowRecord, order: Order | None, error: Exception, now: datetime) -> FeeEscrowRecord:
    """The chain did not answer: our derivation is stored, the last known chain state is kept as it
    was read (``chain_read_at`` says how old it is) and the failure is said."""
    expected = expected_settlement(record=record, order=order, chain=None, now=now)
    settled = expected.state not in FeeEscrowRecord.OPEN_STATES
    FeeEscrowRecord.objects.filter(pk=record.pk).update(
        state=expected.state, affiliate_base_units=expected.affiliate, treasury_base_units=expected.treasury,
        refund_base_units=expected.refund, refund_reason=expected.reason, order=order,
        settled_at=(record.settled_at or now) if settled else None, checked_at=now,
        chain_error=chain_error_text(error),
    )
    record.refresh_from_db()
    return record


def check_record(*, record: FeeEscrowRecord, reader=None, now: datetime | None = None, refresh: bool = True) -> FeeEscrowRecord:
    """Derive the record's state and amounts (refreshing the order from Parsec), read the chain's
    record through the gateway, compare and store both. An unreachable chain is said, not raised."""
    from parsec.errors import ChainError

    assert_no_transaction("the escrow check (it reads Parsec and the chain)")
    now = now or timezone.now()
    record = _load(record.pk)
    order = _refresh_order(record) if refresh else _mirrored_order(record)
    try:
        reader = reader if reader is not None else chain_reader()
        read = read_chain(reader=reader, fee_order_ids=[record.fee_order_id]) if reader is not None else None
    except ChainError as error:
        logger.warning("escrow chain not read for %s: %s", record.fee_order_id, error)
        return _unreachable(record=record, order=order, error=error, now=now)
    return reconcile(record=record, order=order, read=read, now=now)


def check_records(*, records: list[FeeEscrowRecord], reader, now: datetime | None = None) -> list[int]:
    """Many records against one read of the chain (JSON-RPC batches), orders as mirrored (the
    follower's path: the chain moved, the mirror is read as it is). The reads come first; the
    writes go in short transactions of 200. Returns the ids checked."""
    assert_no_transaction("the escrow check (it reads the chain)")
    now = now or timezone.now()
    if not records:
        return []
    read = read_chain(reader=reader, fee_order_ids=[record.fee_order_id for record in records])
    pks = [record.pk for record in records]
    for start in range(0, len(pks), 200):
        with transaction.atomic():
            for record in FeeEscrowRecord.objects.select_related("customer", "intent__order", "order").filter(
                    pk__in=pks[start:start + 200]):
                reconcile(record=record, order=_mirrored_order(record), read=read, now=now, reload=False)
    return pks


def due_for_check(*, now: datetime, unchecked: bool = True):
    """Records still open, pending on chain or flagged, and (with a chain to read) those never
    compared with it; a week back."""
    R = FeeEscrowRecord.Reconciliation
    due = (FeeEscrowRecord.objects.filter(state__in=FeeEscrowRecord.OPEN_STATES)
           | FeeEscrowRecord.objects.exclude(discrepancy="")
           | FeeEscrowRecord.objects.filter(reconciliation__in=[R.PENDING, R.UNCHECKED] if unchecked else [R.PENDING]))
    return due.filter(created_at__gte=now - timedelta(days=7))


def check_open_records(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The beat job: re-check records still open, pending on chain or flagged, oldest check first."""
    from parsec.errors import ChainError

    now = now or timezone.now()
    try:
        unchecked = chain_reader() is not None
    except ChainError:
        unchecked = True  # a chain that fails now may answer by the time each record is read
    checked = flagged = 0
    for record in due_for_check(now=now, unchecked=unchecked).order_by("checked_at", "pk")[:limit]:
        try:
            record = check_record(record=record, now=now)
        except Exception:
            logger.exception("escrow check of %s failed", record.fee_order_id)
            continue
        checked += 1
        flagged += bool(record.discrepancy)
    return {"checked": checked, "flagged": flagged}


def recheck(*, record: FeeEscrowRecord, actor) -> FeeEscrowRecord:
    """An operator's 'check against the escrow now' (audited)."""
    from audit.services import record_action

    record = check_record(record=record)
    record_action(actor=actor, action="escrow.check", customer=record.customer,
                  request={"fee_order_id": record.fee_order_id}, outcome="error" if record.chain_error else "ok",
                  response={"state": record.state, "chain_state": record.chain_state, "reconciliation": record.reconciliation,
                            "discrepancy": record.discrepancy, "chain_error": record.chain_error})
    return record


def escrow_config_or_none():
    """The configuration for a page that works without it (the escrow section is then hidden)."""
    try:
        return escrow_config()
    except Exception:
        logger.info("escrow configuration not readable", exc_info=True)
        return None
