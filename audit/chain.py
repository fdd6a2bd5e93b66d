"""The audit chain: each row's hash is an HMAC (key AUDIT_CHAIN_KEY, which the database never
holds) over its canonical content and the previous row's hash, so a rewrite needs the key and a
deletion breaks the links; checkpoints outside the database (``audit.checkpoints``) catch a cut
tail and a wipe, which links alone cannot show.

Rows written before the chain was keyed carry a plain SHA-256 of the same content. The first
keyed row of such a log is an ``audit.chain_keyed`` event (written by a migration) that names the
old head; it is keyed, so the old rows cannot be rewritten without breaking it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from audit.models import AuditEvent

KEYED_ACTION = "audit.chain_keyed"


def canonical_content(*, seq: int, at: datetime, actor_id: int | None, actor_name: str, action: str,
                      customer_id: int | None, customer_ref: str, reason: str, request: Any, outcome: str,
                      response: Any, prev_hash: str) -> bytes:
    """The bytes a row's hash covers: sorted keys, no whitespace, UTC microsecond time."""
    content = {
        "seq": seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "actor_id": actor_id,
        "actor_name": actor_name, "action": action, "customer_id": customer_id, "customer_ref": customer_ref,
        "reason": reason, "request": request, "outcome": outcome, "response": response, "prev_hash": prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _content(event: AuditEvent) -> bytes:
    return canonical_content(
        seq=event.seq, at=event.at, actor_id=event.actor_id, actor_name=event.actor_name, action=event.action,
        customer_id=event.customer_id, customer_ref=event.customer_ref, reason=event.reason,
        request=event.request, outcome=event.outcome, response=event.response, prev_hash=event.prev_hash,
    )


def chain_key() -> bytes:
    return settings.AUDIT_CHAIN_KEY.encode()


def key_id() -> str:
    """Names the key without revealing it (checkpoints say which key signed them)."""
    return hmac.new(chain_key(), b"audit-chain-key-id", hashlib.sha256).hexdigest()[:12]


def compute_hash(event: AuditEvent) -> str:
    return hmac.new(chain_key(), _content(event), hashlib.sha256).hexdigest()


def legacy_hash(event: AuditEvent) -> str:
    """The unkeyed hash of rows written before the chain was keyed."""
    return hashlib.sha256(_content(event)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """What ``verify_chain`` found: ``kind`` is one of ALTERED, RECHAINED, GAP, CUT, WIPED, CHECKPOINT."""

    seq: int
    pk: int | None
    problem: str
    kind: str = "ALTERED"


def _rows(chunk_size: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size)


def verify_chain(*, chunk_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Recompute every row's hash in order; return (rows checked, the first break or None)."""
    keyed_from = (
        AuditEvent.objects.filter(action=KEYED_ACTION).order_by("seq").values_list("seq", flat=True).first() or 1
    )
    checked, prev_seq, prev_hash = 0, 0, ""
    rows = _rows(chunk_size)
    for event in rows:
        if event.seq != prev_seq + 1:
            return checked, ChainBreak(event.seq, event.pk, f"sequence jumps from {prev_seq} to {event.seq} (rows missing)", "GAP")
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(event.seq, event.pk, "prev_hash does not match the previous row's hash (row altered)")
        expected = compute_hash(event) if event.seq >= keyed_from else legacy_hash(event)
        if not hmac.compare_digest(expected, event.hash):
            return checked, _hash_mismatch(event, next(rows, None))
        checked, prev_seq, prev_hash = checked + 1, event.seq, event.hash
    return checked, None


def _hash_mismatch(event: AuditEvent, following: AuditEvent | None) -> ChainBreak:
    """A row whose content does not match its hash. If the next row still verifies and links to
    the stored hash, that hash is the original: the content was edited in place. If the next row
    links to it but does not verify, the hashes were recomputed without the key: a re-chained
    rewrite. (The head alone is told apart by the checkpoints.)"""
    if (following is not None and following.prev_hash == event.hash
            and not hmac.compare_digest(compute_hash(following), following.hash)):
        return ChainBreak(event.seq, event.pk, "rows from here on were rewritten and their hashes recomputed "
                                                   "without the chain key", "RECHAINED")
    if event.hash == legacy_hash(event):
        return ChainBreak(event.seq, event.pk, "the row was rewritten and re-hashed without the chain key", "RECHAINED")
    return ChainBreak(event.seq, event.pk, "content does not match its hash (row altered)")


def head() -> tuple[int, str]:
    """(seq, hash) of the newest row, (0, "") for an empty log."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (0, "")
