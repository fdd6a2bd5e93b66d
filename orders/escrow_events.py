"""The escrow's events in the mirror, and reading a fee record again after its order's outcome.

- ``follow_chain()`` (the beat's ``follow_escrow_chain``, every ESCROW_FOLLOW_INTERVAL seconds):
  reads on from the persisted cursor through the gateway (``parsec.escrow_chain``'s ``follow``:
  bounded ``eth_getLogs`` ranges, the blocks not ESCROW_CONFIRMATIONS deep read again every run),
  keeps the events of our fee orders (``FeeEscrowEvent``: kind, amounts, block, transaction),
  marks the ones a reorg removed (``dropped_at``, audited ``escrow.reorg``) and re-checks every
  record an event touched against the chain's ``feeRecords``, so the record goes back to what the
  chain now says. One run at a time (a lease on ``EscrowFollower``); its health is kept there for
  the pages (they never wait on the chain).
- ``follow_up(record_ids)``: after a placement, a cancel or a sync that moved an order, each record
  is read again after ESCROW_FOLLOW_UP_DELAYS (``follow_up_record`` task) until the chain shows
  what we expect, so the page reflects the outcome within a few blocks, not at the next sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.db import assert_no_transaction
from orders import escrow
from orders.models import EscrowFollower, FeeEscrowEvent, FeeEscrowRecord

logger = logging.getLogger(__name__)

FOLLOWER = "escrow"
LEASE_SECONDS = 300  # the task's time limit: a run that dies frees it then
CHUNK = 500


# --- The follower -------------------------------------------------------------------------------


def _claim(name: str, now: datetime) -> bool:
    EscrowFollower.objects.get_or_create(name=name)
    return bool(EscrowFollower.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), name=name).update(
        lease_until=now + timedelta(seconds=LEASE_SECONDS), last_attempt_at=now))


def _cursor_state(name: str) -> dict | None:
    from parsec.models import EscrowChainCursor

    return EscrowChainCursor.objects.filter(name=name).values().first()


def _restore_cursor(name: str, state: dict | None) -> None:
    """The events were read but not stored: put the cursor back so the next run reads them again."""
    from parsec.models import EscrowChainCursor

    if state is None:
        EscrowChainCursor.objects.filter(name=name).delete()
    else:
        EscrowChainCursor.objects.filter(name=name).update(**{k: v for k, v in state.items() if k != "name"})


def follow_chain(*, reader=None, now: datetime | None = None, name: str = FOLLOWER) -> dict:
    """One run of the follower; returns what it did (or why it did nothing)."""
    from parsec.errors import ChainError

    assert_no_transaction("following the escrow chain")
    now = now or timezone.now()
    if reader is None:
        try:
            reader = escrow.chain_reader()
        except ChainError as error:  # misconfigured or unreachable at start: said on the pages
            EscrowFollower.objects.get_or_create(name=name)
            EscrowFollower.objects.filter(name=name).update(last_attempt_at=now,
                                                            last_error=escrow.chain_error_text(error))
            logger.warning("escrow chain reader not available: %s", error)
            return {"error": str(error)}
    if reader is None:
        return {"skipped": "no escrow chain reader"}
    if not _claim(name, now):
        return {"skipped": "another run holds the lease"}
    try:
        before = _cursor_state(name)
        start = before["final_block"] + 1 if before else reader.start_block
        try:
            batch = reader.follow(name=name, max_blocks=settings.ESCROW_FOLLOW_MAX_BLOCKS)
        except ChainError as error:
            EscrowFollower.objects.filter(name=name).update(last_error=escrow.chain_error_text(error))
            logger.warning("escrow chain not followed: %s", error)
            return {"error": str(error)}
        end = min(batch.head.number, start + settings.ESCROW_FOLLOW_MAX_BLOCKS - 1)
        try:
            touched, new, dropped = ingest(events=batch.events, dropped_keys={d["key"] for d in batch.dropped},
                                           start=start, end=end, now=now)
        except Exception:
            _restore_cursor(name, before)
            raise
        records = [record for chunk in _chunks(sorted(touched)) for record in FeeEscrowRecord.objects.filter(pk__in=chunk)]
        try:
            checked = escrow.check_records(records=records, reader=reader, now=now)
        except ChainError as error:
            # The events are kept; the records they touched are re-read by the minute's check.
            text = escrow.chain_error_text(error)
            for chunk in _chunks(sorted(touched)):
                FeeEscrowRecord.objects.filter(pk__in=chunk).update(reconciliation=FeeEscrowRecord.Reconciliation.PENDING,
                                                                    chain_error=text)
            EscrowFollower.objects.filter(name=name).update(last_error=text)
            logger.warning("escrow records not re-read after their events: %s", error)
            return {"error": str(error), "new": new, "dropped": dropped}
        # The chain moved ahead of the mirror (a cancel or fill not synced yet): read the order too.
        follow_up([pk for chunk in _chunks(checked) for pk in FeeEscrowRecord.objects.filter(
            pk__in=chunk, reconciliation=FeeEscrowRecord.Reconciliation.PENDING).values_list("pk", flat=True)])
        EscrowFollower.objects.filter(name=name).update(
            last_success_at=now, last_error="", head_block=batch.head.number, final_block=batch.final_through,
            events_ingested=F("events_ingested") + new, events_dropped=F("events_dropped") + dropped,
        )
        return {"events": len(batch.events), "new": new, "dropped": dropped, "records": len(records),
                "head": batch.head.number, "final": batch.final_through, "caught_up": batch.caught_up}
    finally:
        EscrowFollower.objects.filter(name=name).update(lease_until=None)


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def ingest(*, events: list, dropped_keys: set[str], start: int, end: int, now: datetime) -> tuple[set[int], int, int]:
    """Store the events of our fee orders read in blocks [start, end] and mark as dropped the stored
    ones that range no longer holds (or that the gateway reports dropped). Returns the records
    touched, the new events and the dropped ones."""
    ids = sorted({event.order_id for event in events})
    records: dict[str, int] = {}
    for chunk in _chunks(ids):
        records.update(FeeEscrowRecord.objects.filter(fee_order_id__in=chunk).values_list("fee_order_id", "pk"))
    ours = [event for event in events if event.order_id in records]
    seen = {event.key for event in ours}
    known: dict[str, bool] = {}
    for chunk in _chunks(sorted(seen)):
        known.update(FeeEscrowEvent.objects.filter(key__in=chunk).values_list("key", "final"))
    fresh = [FeeEscrowEvent(
        record_id=records[event.order_id], key=event.key, kind=event.name, amount=event.amount,
        affiliate_amount=event.affiliate_amount, treasury_amount=event.treasury_amount, reason=event.reason or "",
        block_number=event.block_number, block_hash=event.block_hash, tx_hash=event.tx_hash, log_index=event.log_index,
        final=event.final, seen_at=now,
    ) for event in ours if event.key not in known]
    now_final = [event.key for event in ours if event.final and known.get(event.key) is False]
    # Kept and not final in the range read again, yet not read this time (or reported dropped): a reorg removed it.
    live = FeeEscrowEvent.objects.filter(dropped_at__isnull=True)
    gone = {pk for pk, key in live.filter(block_number__gte=start, block_number__lte=end, final=False).values_list("pk", "key")
            if key not in seen}
    for chunk in _chunks(sorted(dropped_keys - seen)):
        gone |= set(live.filter(key__in=chunk).values_list("pk", flat=True))
    with transaction.atomic():
        FeeEscrowEvent.objects.bulk_create(fresh, batch_size=CHUNK, ignore_conflicts=True)
        for chunk in _chunks(now_final):
            FeeEscrowEvent.objects.filter(key__in=chunk).update(final=True)
        lost = [event for chunk in _chunks(sorted(gone)) for event in live.filter(pk__in=chunk).select_related("record__customer")]
        for chunk in _chunks([event.pk for event in lost]):
            FeeEscrowEvent.objects.filter(pk__in=chunk).update(dropped_at=now)
    for event in lost:
        from audit.services import record_action

        logger.warning("escrow chain: a reorg removed %s of %s (tx %s, block %s)", event.kind, event.record.fee_order_id,
                       event.tx_hash, event.block_number)
        record_action(actor=None, action="escrow.reorg", customer=event.record.customer, outcome="error",
                      request={"fee_order_id": event.record.fee_order_id},
                      response={"dropped": event.kind, "amount": event.amount, "tx_hash": event.tx_hash,
                                "block_number": event.block_number, "block_hash": event.block_hash})
    touched = {event.record_id for event in fresh} | {event.record_id for event in lost}
    return touched, len(fresh), len(lost)


# --- Reading a record again after its order's outcome ---------------------------------------------


FOLLOWING = (FeeEscrowRecord.Reconciliation.PENDING, FeeEscrowRecord.Reconciliation.UNCHECKED)


def needs_follow_up(queryset):
    """Records whose escrow should move or is moving: pending on chain, never checked, or still
    open for an order that has ended."""
    from orders.models import Order

    return queryset.filter(
        Q(reconciliation__in=FOLLOWING) | Q(state__in=FeeEscrowRecord.OPEN_STATES, order__status__in=Order.TERMINAL_STATUSES),
        created_at__gte=timezone.now() - timedelta(days=7),
    )


def follow_up(record_ids, *, attempt: int = 0) -> None:
    """Read these records again after the next delay, once the caller's transaction commits."""
    delays = settings.ESCROW_FOLLOW_UP_DELAYS
    record_ids = list(record_ids)
    if not record_ids or attempt >= len(delays):
        return

    def send():
        from orders.tasks import follow_up_fee_record

        for pk in record_ids:
            try:
                follow_up_fee_record.apply_async(args=(pk, attempt), countdown=delays[attempt])
            except Exception:  # the broker is down: the beat's check and the follower catch up
                logger.warning("could not enqueue the escrow follow-up of record %s", pk, exc_info=True)

    transaction.on_commit(send)


def follow_up_record(record_id: int, attempt: int) -> str:
    """One follow-up: refresh the order from Parsec, read the chain, compare; again later unless
    the chain shows what we expect (or the attempts are spent: the beat's check goes on)."""
    record = FeeEscrowRecord.objects.filter(pk=record_id).first()
    if record is None:
        return "missing"
    record = escrow.check_record(record=record)
    if record.reconciliation in FOLLOWING or record.chain_error:
        follow_up([record.pk], attempt=attempt + 1)
    return record.reconciliation


def follow_up_customer(customer_id: int) -> None:
    """A customer's orders were synced (fills, cancels, ends): follow their records that should move."""
    follow_up(needs_follow_up(FeeEscrowRecord.objects.filter(customer_id=customer_id)).values_list("pk", flat=True)[:100])


def follow_up_order_action(*, action: str, request: dict) -> None:
    """An order was placed, reconciled or withdrawn (its intent names its fee order id) or
    cancelled (by its Parsec order id): follow its fee. An order without a fee costs nothing more
    than this look at its audit row, except a cancel (one indexed query)."""
    if action.startswith("order.cancel"):
        parsec_id = request.get("order_id")
        if not isinstance(parsec_id, str) or not parsec_id:
            return
        found = FeeEscrowRecord.objects.filter(order__parsec_order_id=parsec_id, order__exchange=request.get("exchange") or "polymarket")
    else:
        fee_order_id = request.get("fee_auth_order_id")
        if not isinstance(fee_order_id, str) or not fee_order_id:
            return
        found = FeeEscrowRecord.objects.filter(fee_order_id=fee_order_id.lower())
    follow_up(found.values_list("pk", flat=True)[:10])


# --- Health, for the pages -----------------------------------------------------------------------


def age(seconds: float | None) -> str:
    """How long ago, for a person: ``12 s``, ``4 min``, ``3 h``, ``2 days``."""
    from core.formatting import size

    if seconds is None:
        return "never"
    seconds = max(int(seconds), 0)
    for unit, name in ((86_400, "days"), (3600, "h"), (60, "min")):
        if seconds >= unit * (2 if unit == 86_400 else 1):
            return f"{size(seconds // unit)} {name}"
    return f"{size(seconds)} s"


def record_chain_age(record: FeeEscrowRecord, now: datetime | None = None) -> str:
    """How old the chain state shown for a record is."""
    if record.chain_read_at is None:
        return "never read"
    return age(((now or timezone.now()) - record.chain_read_at).total_seconds())


def chain_health(now: datetime | None = None) -> dict:
    """What the pages say about the chain: how far and how long ago it was read, and whether the
    last attempt failed (the pages then show the last known state with its age)."""
    now = now or timezone.now()
    follower = EscrowFollower.objects.filter(name=FOLLOWER).first()
    if follower is None or follower.last_attempt_at is None:
        return {"known": False}
    seconds = (now - follower.last_success_at).total_seconds() if follower.last_success_at else None
    late = seconds is None or seconds > max(settings.ESCROW_FOLLOW_INTERVAL * 5, 60)
    return {"known": True, "head_block": follower.head_block, "final_block": follower.final_block,
            "read_at": follower.last_success_at, "age_seconds": seconds, "age": age(seconds), "error": follower.last_error,
            "reachable": not follower.last_error and not late, "late": late}
