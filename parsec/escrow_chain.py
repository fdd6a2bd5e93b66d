"""Reading fee-escrow state from the chain, keyed by the builder's bytes32 ``fee_auth.order_id``.

Parsec's REST API has no escrow endpoint: the truth is the escrow contract on Polygon
(``feeRecords(orderId)`` and its FeePulled / FeeDistributed / FeeRefunded events, NOTES §8.9).
``ChainEscrowReader`` reads it over Ethereum JSON-RPC with web3.py, configured by

- ``ESCROW_RPC_URL``: a Polygon RPC provider (empty: the sandbox's ``/_chain`` when
  PARSEC_SANDBOX_ADMIN_KEY is set, i.e. the embedded default; otherwise no reader);
- ``ESCROW_CONTRACT_ADDRESS`` and ``ESCROW_CHAIN_ID`` (137): checked once per process, a wrong
  network or an address without code is refused (``ChainMisconfigured``) before anything is read;
- ``ESCROW_ABI_PATH``: the contract's ABI file. Parsec publishes none; ours is the sandbox's
  contract (contracts/build/ParsecFeeEscrow.abi.json). With Parsec's real ABI, that file and
  ``map_escrow`` below change, nothing else;
- ``ESCROW_CONFIRMATIONS``: how deep a block must be before what it holds is final;
- ``ESCROW_LOG_BLOCK_RANGE``, ``ESCROW_START_BLOCK``: how ``eth_getLogs`` pages through blocks
  (providers cap ranges and result counts; a refused range is halved) and where the contract's
  history starts.

Errors are classified as Parsec's are (parsec.errors ``Chain*``); reads are retried with backoff
(ESCROW_RPC_RETRIES) and time out after ESCROW_RPC_TIMEOUT_SECONDS, so a caller is never held
for long: it shows the record as not checked instead.

Only this package imports web3 (an import-linter contract).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import requests
from django.conf import settings
from django.utils import timezone
from web3 import HTTPProvider, Web3
from web3.exceptions import BadResponseFormat, ContractLogicError, Web3RPCError

from .errors import (
    ChainCallReverted,
    ChainConnectionError,
    ChainError,
    ChainLimitExceeded,
    ChainMisconfigured,
    ChainRateLimited,
    ChainRejected,
    ChainTimeout,
    ChainUnavailable,
    ChainUnexpectedResponse,
)
from .retry import backoff_delay

logger = logging.getLogger("parsec.escrow_chain")

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class FeeRecord:
    """The escrow contract's ``feeRecords(orderId)``; amounts in USDC base units."""

    order_id: str  # bytes32 fee_auth.order_id
    parsec_order_id: str | None  # the chain does not know Parsec's order id
    customer_id: str | None
    state: str  # pulled / distributed / partially_distributed / refunded
    payer: str
    signer: str | None
    fee_amount: int
    deadline: int | None
    affiliate: str | None
    treasury: str | None
    fill_ratio: Decimal | None
    affiliate_amount: int
    treasury_amount: int
    refund_amount: int
    refund_reason: str | None
    held_amount: int
    pulled_at: datetime | None
    settled_at: datetime | None
    block_number: int | None = None  # the block this state was read at
    final: bool = False  # its last change is ESCROW_CONFIRMATIONS deep
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FeeEvent:
    """A contract event: FeePulled (amount = pulled), FeeDistributed (affiliate + treasury),
    FeeRefunded (amount = refunded), with where it is on the chain."""

    name: str
    order_id: str
    amount: int
    affiliate_amount: int
    treasury_amount: int
    at: datetime | None
    payer: str | None = None
    affiliate: str | None = None
    treasury: str | None = None
    reason: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    tx_hash: str | None = None
    log_index: int | None = None
    final: bool = False
    args: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Unique on one chain: where the log is (a reorg gives a re-mined event a new key)."""
        return f"{self.block_hash}:{self.tx_hash}:{self.log_index}"


@dataclass(frozen=True)
class ChainHead:
    number: int
    hash: str
    timestamp: int
    finalized: int  # the highest block ESCROW_CONFIRMATIONS deep (-1 when none is)


@dataclass(frozen=True)
class EventBatch:
    """What ``follow`` read: every event after the cursor's last final block up to the head (the
    final ones are returned once; the others on every call until they are final), and the events
    a reorg removed since the last call."""

    events: list[FeeEvent]
    dropped: list[dict]
    head: ChainHead
    final_through: int
    caught_up: bool


class EscrowChainReader(Protocol):
    def fee_record(self, order_id: str) -> FeeRecord | None: ...

    def events(self, order_id: str) -> list[FeeEvent]: ...


# --- The one mapping from the contract's ABI to ours ------------------------------------------------

STATES = {1: "pulled", 2: "distributed", 3: "partially_distributed", 4: "refunded"}
REASONS = {1: "cancelled", 2: "expired", 3: "rejected", 4: "stuck_pending", 5: "stale"}
RECORD_FUNCTION = "feeRecords"
EVENT_NAMES = ("FeePulled", "FeeDistributed", "FeeRefunded")


def _hex32(value) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else str(value).lower()


def _address(value) -> str | None:
    value = str(value).lower() if value else None
    return None if value in (None, ZERO_ADDRESS) else value


def _time(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(int(seconds), tz=UTC) if seconds else None


def map_escrow(name: str, values: dict) -> dict | None:
    """The contract's words in ours: ``feeRecords`` outputs to FeeRecord fields (None when the id
    was never used), an event's args to FeeEvent fields. The only code that knows the ABI's
    names, codes and units: another ABI changes this function and the ABI file, not the callers."""
    if name == RECORD_FUNCTION:
        status = int(values["status"])
        if status == 0:
            return None
        fee, filled, size = int(values["feeAmount"]), int(values["filled"]), int(values["size"])
        state = STATES.get(status, f"unknown_{status}")
        payer = _address(values["payer"])
        return {
            "parsec_order_id": None, "customer_id": None, "state": state, "payer": payer or "", "signer": payer,
            "fee_amount": fee, "deadline": int(values["deadline"]) or None,
            "affiliate": _address(values["affiliate"]), "treasury": _address(values["treasury"]),
            "fill_ratio": Decimal(filled) / Decimal(size) if size else None,
            "affiliate_amount": int(values["affiliateAmount"]), "treasury_amount": int(values["treasuryAmount"]),
            "refund_amount": int(values["refundAmount"]), "refund_reason": REASONS.get(int(values["refundReason"])),
            "held_amount": fee if state == "pulled" else 0,
            "pulled_at": _time(values["pulledAt"]), "settled_at": _time(values["settledAt"]),
        }
    order_id = _hex32(values["orderId"])
    if name == "FeePulled":
        return {"name": name, "order_id": order_id, "amount": int(values["amount"]), "affiliate_amount": 0,
                "treasury_amount": 0, "payer": _address(values["payer"])}
    if name == "FeeDistributed":
        affiliate, treasury = int(values["affiliateAmount"]), int(values["treasuryAmount"])
        return {"name": name, "order_id": order_id, "amount": affiliate + treasury, "affiliate_amount": affiliate,
                "treasury_amount": treasury, "affiliate": _address(values["affiliate"]), "treasury": _address(values["treasury"])}
    if name == "FeeRefunded":
        return {"name": name, "order_id": order_id, "amount": int(values["amount"]), "affiliate_amount": 0,
                "treasury_amount": 0, "payer": _address(values["payer"]), "reason": REASONS.get(int(values["reason"]))}
    raise ValueError(f"no mapping for the escrow's {name}")


def _json_safe(values: dict) -> dict:
    return {key: _hex32(value) if isinstance(value, bytes | bytearray) else value for key, value in values.items()}


# --- The reader -----------------------------------------------------------------------------------


class ChainEscrowReader:
    """Reads the escrow contract over JSON-RPC. Thread-safe (one HTTP session per reader)."""

    def __init__(self, *, rpc_url: str, contract_address: str, abi_path: str | Path, chain_id: int, confirmations: int,
                 log_block_range: int = 2000, start_block: int = 0, timeout: float = 5.0, retries: int = 3,
                 base_backoff: float = 0.25, max_backoff: float = 4.0):
        self.rpc_url, self.chain_id, self.confirmations = rpc_url, chain_id, max(int(confirmations), 0)
        self.log_block_range, self.start_block = max(int(log_block_range), 1), max(int(start_block), 0)
        self.retries, self.base_backoff, self.max_backoff = max(int(retries), 1), base_backoff, max_backoff
        try:
            abi = json.loads(Path(abi_path).read_text())
        except (OSError, ValueError) as error:
            raise ChainMisconfigured(f"ESCROW_ABI_PATH {abi_path} is not a readable ABI file: {error}") from None
        names = {item.get("name") for item in abi if isinstance(item, dict)}
        missing = [name for name in (RECORD_FUNCTION, *EVENT_NAMES) if name not in names]
        if missing:
            raise ChainMisconfigured(f"the ABI at {abi_path} has no {', '.join(missing)}: update map_escrow for this ABI")
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None))
        try:
            self.address = Web3.to_checksum_address(contract_address)
        except ValueError:
            raise ChainMisconfigured(f"ESCROW_CONTRACT_ADDRESS {contract_address!r} is not an address") from None
        self.contract = self.w3.eth.contract(address=self.address, abi=abi)
        outputs = self.contract.get_function_by_name(RECORD_FUNCTION).abi["outputs"]
        if len(outputs) == 1 and outputs[0].get("components"):  # a struct comes back as one tuple
            outputs = outputs[0]["components"]
        self._outputs = [output["name"] for output in outputs]
        self._events = {self.w3.keccak(text=_event_signature(self.contract.events[name].abi)): self.contract.events[name]()
                        for name in EVENT_NAMES}

    # --- Plumbing: one door for every call -------------------------------------------------------

    def _rpc(self, method: str, call):
        """Run one JSON-RPC read with classification and retries (capped backoff, full jitter)."""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                result = call()
                logger.debug("escrow chain %s ok in %.1f ms", method, (time.perf_counter() - started) * 1000)
                return result
            except Exception as raw:
                error = classify(raw, method)
                if not _retryable(error) or attempt >= self.retries:
                    logger.warning("escrow chain %s failed after %d attempt(s): %s", method, attempt, error)
                    raise error from raw
                time.sleep(backoff_delay(attempt, base=self.base_backoff, max_backoff=self.max_backoff,
                                         retry_after=error.retry_after))

    def verify(self) -> None:
        """Refuse a chain, an address or an ABI that is not the escrow's (called once by ``escrow_reader``):
        the chain id, code at the address, and the record view answering as the ABI says."""
        served = self._rpc("eth_chainId", lambda: self.w3.eth.chain_id)
        if served != self.chain_id:
            raise ChainMisconfigured(f"ESCROW_RPC_URL serves chain id {served}, not ESCROW_CHAIN_ID {self.chain_id}",
                                     rpc_method="eth_chainId")
        code = self._rpc("eth_getCode", lambda: self.w3.eth.get_code(self.address))
        if not code:
            raise ChainMisconfigured(f"no contract at ESCROW_CONTRACT_ADDRESS {self.address} on chain {served} "
                                     "(eth_getCode is empty): a wrong address, or the wrong network", rpc_method="eth_getCode")
        probe = self.contract.functions[RECORD_FUNCTION](b"\0" * 32)
        try:
            self._rpc("eth_call", lambda: probe.call())
        except (ChainCallReverted, ChainUnexpectedResponse) as error:
            raise ChainMisconfigured(f"the contract at ESCROW_CONTRACT_ADDRESS {self.address} does not answer {RECORD_FUNCTION} "
                                     f"as ESCROW_ABI_PATH describes ({error}): a wrong address, or an ABI that is not "
                                     "this contract's", rpc_method="eth_call") from None

    # --- Head and records ------------------------------------------------------------------------

    def head(self) -> ChainHead:
        block = self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block("latest"))
        number = int(block["number"])
        return ChainHead(number=number, hash=_hex32(block["hash"]), timestamp=int(block["timestamp"]),
                         finalized=number - self.confirmations)

    def _finalized_timestamp(self, head: ChainHead) -> int | None:
        if head.finalized < 0:
            return None
        if head.finalized == head.number:
            return head.timestamp
        return int(self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block(head.finalized))["timestamp"])

    def _record(self, order_id: str, values: tuple, head: ChainHead, final_timestamp: int | None) -> FeeRecord | None:
        named = dict(zip(self._outputs, values, strict=True))
        fields = map_escrow(RECORD_FUNCTION, named)
        if fields is None:
            return None
        changed = max(int(named["pulledAt"]), int(named["settledAt"]))
        # Block timestamps strictly increase: a change no later than the finalised block's time is in it or before it.
        final = final_timestamp is not None and changed <= final_timestamp
        return FeeRecord(order_id=order_id.lower(), block_number=head.number, final=final,
                         raw={**_json_safe(named), "block_number": head.number}, **fields)

    def fee_record(self, order_id: str) -> FeeRecord | None:
        """The record at the head (None when the id was never pulled); ``final`` says whether it
        can still change by a reorg."""
        head = self.head()
        call = self.contract.functions.feeRecords(_bytes32(order_id))
        values = self._rpc("eth_call", lambda: call.call(block_identifier=head.number))
        return self._record(order_id, values, head, self._finalized_timestamp(head))

    def fee_records(self, order_ids: list[str], *, batch_size: int = 100) -> dict[str, FeeRecord | None]:
        """Many records at one head, ``batch_size`` calls per JSON-RPC batch request."""
        head = self.head()
        final_timestamp = self._finalized_timestamp(head)
        found: dict[str, FeeRecord | None] = {}
        for start in range(0, len(order_ids), batch_size):
            chunk = order_ids[start:start + batch_size]

            def read(chunk=chunk):
                with self.w3.batch_requests() as batch:
                    for order_id in chunk:
                        batch.add(self.contract.functions.feeRecords(_bytes32(order_id)).call(block_identifier=head.number))
                    return batch.execute()

            for order_id, values in zip(chunk, self._rpc("eth_call (batch)", read), strict=True):
                found[order_id] = self._record(order_id, values, head, final_timestamp)
        return found

    # --- Events ----------------------------------------------------------------------------------

    def _decode(self, log, *, finalized: int) -> FeeEvent | None:
        event = self._events.get(bytes(log["topics"][0])) if log["topics"] else None
        if event is None:
            return None
        decoded = event.process_log(log)
        fields = map_escrow(decoded["event"], dict(decoded["args"]))
        number = int(log["blockNumber"])
        return FeeEvent(at=None, block_number=number, block_hash=_hex32(log["blockHash"]), tx_hash=_hex32(log["transactionHash"]),
                        log_index=int(log["logIndex"]), final=number <= finalized, args=_json_safe(dict(decoded["args"])), **fields)

    def _logs(self, start: int, end: int, topics: list | None = None) -> list:
        """eth_getLogs over [start, end] in ranges of ESCROW_LOG_BLOCK_RANGE; a range the provider
        refuses (too long, too many results) is halved."""
        logs, low, span = [], start, self.log_block_range
        while low <= end:
            high = min(low + span - 1, end)
            params = {"address": self.address, "fromBlock": low, "toBlock": high}
            if topics:
                params["topics"] = topics
            try:
                logs += self._rpc("eth_getLogs", lambda params=params: self.w3.eth.get_logs(params))
            except ChainLimitExceeded:
                if high == low:
                    raise
                span = max((high - low + 1) // 2, 1)
                continue
            low = high + 1
        return logs

    def events_between(self, start: int, end: int, *, head: ChainHead | None = None) -> list[FeeEvent]:
        """The escrow's events in blocks [start, end], in chain order."""
        head = head or self.head()
        finalized = head.finalized
        events = [self._decode(log, finalized=finalized) for log in self._logs(max(start, 0), min(end, head.number))]
        return [event for event in events if event is not None]

    def events(self, order_id: str) -> list[FeeEvent]:
        """One fee order's events since ESCROW_START_BLOCK (indexed by its order id)."""
        head = self.head()
        topic = "0x" + _bytes32(order_id).hex()
        logs = self._logs(self.start_block, head.number, topics=[None, topic])
        return [event for event in (self._decode(log, finalized=head.finalized) for log in logs) if event is not None]

    def follow(self, *, name: str = "escrow", max_blocks: int = 100_000) -> EventBatch:
        """Read on from the persisted cursor: every event after its last final block, at most
        ``max_blocks`` blocks at a time. The blocks that are not final yet are read again on every
        call (a reorg changes them); events the last call returned there and this one does not
        are returned as ``dropped``. The cursor moves to the last final block read."""
        from .models import EscrowChainCursor

        cursor = EscrowChainCursor.objects.filter(name=name).first()
        if cursor is not None and (cursor.chain_id != self.chain_id or cursor.contract_address.lower() != self.address.lower()):
            raise ChainMisconfigured(f"the cursor {name!r} follows {cursor.contract_address} on chain {cursor.chain_id}, "
                                     f"not {self.address} on {self.chain_id}: delete it to start again")
        head = self.head()
        start = cursor.final_block + 1 if cursor is not None else self.start_block
        end = min(head.number, start + max_blocks - 1)
        if cursor is not None and cursor.final_block_hash and cursor.final_block >= 0:
            block = self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block(cursor.final_block))
            if _hex32(block["hash"]) != cursor.final_block_hash:
                raise ChainUnavailable(f"block {cursor.final_block} changed after it was final (a reorg deeper than "
                                       f"ESCROW_CONFIRMATIONS={self.confirmations}): raise it, and re-read from ESCROW_START_BLOCK",
                                       rpc_method="eth_getBlockByNumber")
        events = self.events_between(start, end, head=head) if end >= start else []
        final_through = min(head.finalized, end)
        seen = {event.key for event in events}
        dropped = [event for event in (cursor.unfinal if cursor is not None else []) if event["key"] not in seen]
        if dropped:
            logger.warning("escrow chain: %d event(s) removed by a reorg: %s", len(dropped), [e["key"] for e in dropped])
        final_block = max(final_through, cursor.final_block if cursor is not None else start - 1)
        final_hash = ""
        if final_block >= 0:
            final_hash = _hex32(self._rpc("eth_getBlockByNumber", lambda: self.w3.eth.get_block(final_block))["hash"])
        unfinal = [{"key": e.key, "name": e.name, "order_id": e.order_id, "amount": e.amount, "block_number": e.block_number,
                    "tx_hash": e.tx_hash} for e in events if e.block_number > final_block]
        EscrowChainCursor.objects.update_or_create(name=name, defaults={
            "chain_id": self.chain_id, "contract_address": self.address, "final_block": final_block,
            "final_block_hash": final_hash, "unfinal": unfinal, "head_block": head.number, "updated_at": timezone.now(),
        })
        return EventBatch(events=events, dropped=dropped, head=head, final_through=final_block, caught_up=end >= head.number)


def _event_signature(abi: dict) -> str:
    return f"{abi['name']}({','.join(item['type'] for item in abi['inputs'])})"


def _bytes32(order_id: str) -> bytes:
    raw = bytes.fromhex(order_id.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"an escrow order id is 32 bytes, not {len(raw)}")
    return raw


# --- Classification ------------------------------------------------------------------------------------


def _retryable(error: ChainError) -> bool:
    if isinstance(error, ChainRateLimited):
        return error.retry_after is None or error.retry_after <= 10
    return isinstance(error, ChainUnavailable | ChainTimeout | ChainConnectionError)


def classify(raw: BaseException, method: str) -> ChainError:
    """Any failure of a JSON-RPC read as one of parsec.errors' ``Chain*`` kinds."""
    if isinstance(raw, ChainError):
        return raw
    if isinstance(raw, requests.exceptions.ConnectTimeout):
        return ChainConnectionError(str(raw), rpc_method=method, request_sent=False)
    if isinstance(raw, requests.exceptions.Timeout):
        return ChainTimeout(str(raw), rpc_method=method)
    if isinstance(raw, requests.exceptions.ConnectionError):
        from .client import _is_connect_failure

        return ChainConnectionError(str(raw), rpc_method=method, request_sent=False if _is_connect_failure(raw) else None)
    if isinstance(raw, requests.exceptions.HTTPError) and raw.response is not None:
        status = raw.response.status_code
        if status == 429:
            retry_after = raw.response.headers.get("Retry-After")
            return ChainRateLimited("HTTP 429", rpc_method=method, status=status, retryable=True,
                                    retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)
        if status >= 500:
            return ChainUnavailable(f"HTTP {status}", rpc_method=method, status=status)
        return ChainRejected(f"HTTP {status}", rpc_method=method, status=status)
    if isinstance(raw, ContractLogicError):
        return ChainCallReverted(str(raw), rpc_method=method, rpc_code=3)
    if isinstance(raw, Web3RPCError):
        error = (raw.rpc_response or {}).get("error") or {}
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", str(raw)) if isinstance(error, dict) else str(raw)
        if code == -32005 or "range" in message.lower() or "more than" in message.lower():
            return ChainLimitExceeded(message, rpc_method=method, rpc_code=code)
        if code == 429 or "rate limit" in message.lower():
            return ChainRateLimited(message, rpc_method=method, rpc_code=code, retryable=True)
        if code in (-32600, -32601, -32602):
            return ChainRejected(message, rpc_method=method, rpc_code=code)
        return ChainUnavailable(message, rpc_method=method, rpc_code=code)  # -32000 "header not found", -32603, …
    if isinstance(raw, BadResponseFormat | ValueError):
        return ChainUnexpectedResponse(str(raw)[:300], rpc_method=method)
    return ChainUnexpectedResponse(f"{type(raw).__name__}: {raw}"[:300], rpc_method=method)


# --- The one factory the product calls ------------------------------------------------------------------

_readers: dict[tuple, ChainEscrowReader] = {}
_readers_lock = threading.Lock()


def rpc_url() -> str:
    """ESCROW_RPC_URL, or the sandbox's chain when the gateway talks to the sandbox."""
    if settings.ESCROW_RPC_URL:
        return settings.ESCROW_RPC_URL
    if getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", ""):
        return settings.PARSEC_API_BASE_URL.rstrip("/") + "/_chain"
    return ""


def escrow_reader() -> ChainEscrowReader | None:
    """The reader for the current settings (None when no RPC is configured), verified once per
    process: a wrong chain id or an address without code raises ``ChainMisconfigured``."""
    url = rpc_url()
    if not url:
        return None
    key = (url, settings.ESCROW_CONTRACT_ADDRESS.lower(), str(settings.ESCROW_ABI_PATH), settings.ESCROW_CHAIN_ID,
           settings.ESCROW_CONFIRMATIONS, settings.ESCROW_LOG_BLOCK_RANGE, settings.ESCROW_START_BLOCK)
    reader = _readers.get(key)
    if reader is None:
        with _readers_lock:
            reader = _readers.get(key)
            if reader is None:
                reader = ChainEscrowReader(
                    rpc_url=url, contract_address=settings.ESCROW_CONTRACT_ADDRESS, abi_path=settings.ESCROW_ABI_PATH,
                    chain_id=settings.ESCROW_CHAIN_ID, confirmations=settings.ESCROW_CONFIRMATIONS,
                    log_block_range=settings.ESCROW_LOG_BLOCK_RANGE, start_block=settings.ESCROW_START_BLOCK,
                    timeout=settings.ESCROW_RPC_TIMEOUT_SECONDS, retries=settings.ESCROW_RPC_RETRIES,
                    base_backoff=settings.PARSEC_RETRY_BASE_BACKOFF, max_backoff=settings.PARSEC_RETRY_MAX_BACKOFF,
                )
                reader.verify()
                _readers[key] = reader
    return reader
