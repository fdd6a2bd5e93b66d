"""The audit chain: each row's hash is an HMAC (key AUDIT_CHAIN_KEY, which the database never
holds) over its canonical content and the previous row's hash, so a rewrite needs the key and a
deletion breaks the links; checkpoints outside the database (``audit.checkpoints``) catch a cut
tail and a wipe, which links alone cannot show.

Rows written before the chain was keyed carry a plain SHA-256 of the same content. The first
keyed row of such a log is an ``audit.chain_keyed`` event (written by a migration) that names the
old head; it is keyed, so the old rows cannot be rewritten without breaking it.

The key can be rotated (``manage.py rotate_audit_key``): an ``audit.key_rotated`` row, hashed
under the new key, names the old and new key ids and the old head. Each segment between such rows
is verified under the key its rotation row names (the first segment under the first rotation's old
key); retired keys stay in AUDIT_CHAIN_PREVIOUS_KEYS so the rows they wrote still verify. Until the
rotation row exists, writes go on under the key the head was written with, so deploying the new
key before running the command loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from audit.models import AuditEvent

logger = logging.getLogger(__name__)

KEYED_ACTION = "audit.chain_keyed"
ROTATED_ACTION = "audit.key_rotated"


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
    """The current key (AUDIT_CHAIN_KEY): new segments and their checkpoints are keyed with it."""
    return settings.AUDIT_CHAIN_KEY.encode()


def _id_of(key: bytes) -> str:
    return hmac.new(key, b"audit-chain-key-id", hashlib.sha256).hexdigest()[:12]


def key_id() -> str:
    """Names the current key without revealing it (checkpoints and rotation rows say which key)."""
    return _id_of(chain_key())


def known_keys() -> dict[str, bytes]:
    """Every key this process can verify with, by key id: the current one first, then the retired
    ones (AUDIT_CHAIN_PREVIOUS_KEYS)."""
    keys = {key_id(): chain_key()}
    for previous in getattr(settings, "AUDIT_CHAIN_PREVIOUS_KEYS", ()):
        keys.setdefault(_id_of(previous.encode()), previous.encode())
    return keys


def compute_hash(event: AuditEvent, key: bytes | None = None) -> str:
    """The row's HMAC under ``key`` (the current key when not given)."""
    return hmac.new(chain_key() if key is None else key, _content(event), hashlib.sha256).hexdigest()


def legacy_hash(event: AuditEvent) -> str:
    """The unkeyed hash of rows written before the chain was keyed."""
    return hashlib.sha256(_content(event)).hexdigest()


def _verifies(event: AuditEvent, key: bytes) -> bool:
    return hmac.compare_digest(compute_hash(event, key), event.hash)


def key_of(event: AuditEvent, keys: dict[str, bytes] | None = None) -> str | None:
    """The id of the known key ``event`` was hashed with, or None (a legacy row, an unknown key or
    a changed row)."""
    keys = known_keys() if keys is None else keys
    return next((kid for kid, key in keys.items() if _verifies(event, key)), None)


class ChainKeyUnavailable(RuntimeError):
    """The chain's head verifies under no key this process holds: nothing is appended under a
    key that would leave a row no one can verify."""


# The key this process last wrote (or checkpointed) with, and the hash of that row: while the head
# is still that row, the next append needs neither the head's content nor an HMAC to pick its key.
# One tuple, replaced in one assignment, so a thread never reads one row's hash with another's key.
_writing: list[tuple[str, str]] = [("", "")]


def remember(kid: str, head_hash: str) -> None:
    _writing[0] = (kid, head_hash)


def writing_key(head_hash: str, load_head: Callable[[], AuditEvent]) -> tuple[str, bytes]:
    """(key id, key) the next row is hashed with: the key the head (hash ``head_hash``, "" for an
    empty log; ``load_head`` fetches the row when its key must be found) was written with, so rows
    written after a deploy of a new key but before ``rotate_audit_key`` stay in the old key's
    segment. An empty log (or one whose head predates keying) starts under the current key.

    A head no known key verifies (a process still without the key the chain was rotated to, or a
    changed head) refuses the write, loudly: a row hashed under another key would break the
    append-only chain for good."""
    keys = known_keys()
    current = key_id()
    if not head_hash:
        return current, keys[current]
    cached_id, cached_hash = _writing[0]
    if cached_hash == head_hash and cached_id in keys:
        return cached_id, keys[cached_id]
    head_event = load_head()
    found = key_of(head_event, keys)
    if found is None and head_event.hash == legacy_hash(head_event):
        found = current
    if found is None:
        rotated_to = (AuditEvent.objects.filter(action=ROTATED_ACTION).order_by("-seq")
                      .values_list("request__new_key_id", flat=True).first())
        needed = f"; the chain was rotated to key id {rotated_to}" if rotated_to and rotated_to not in keys else ""
        message = (f"the audit log's head (seq {head_event.seq}) verifies under no key this process holds "
                   f"(AUDIT_CHAIN_KEY {current}, AUDIT_CHAIN_PREVIOUS_KEYS){needed}; refusing to append. "
                   "Deploy the chain's key, or run verify_audit_log if the head was changed.")
        logger.critical(message)
        raise ChainKeyUnavailable(message)
    remember(found, head_hash)
    return found, keys[found]


@dataclass(frozen=True)
class ChainBreak:
    """What ``verify_chain`` found: ``kind`` is one of ALTERED, RECHAINED, GAP, CUT, WIPED,
    CHECKPOINT, KEY_UNKNOWN (rows or a checkpoint under a key this process does not hold)."""

    seq: int
    pk: int | None
    problem: str
    kind: str = "ALTERED"

    def describe(self, checked: int) -> str:
        where = {
            "ALTERED": f"at seq {self.seq}", "RECHAINED": f"from seq {self.seq}", "GAP": f"at seq {self.seq}",
            "CUT": f"after seq {self.seq}", "KEY_UNKNOWN": f"at seq {self.seq}" if self.seq else "",
        }.get(self.kind, "")
        row = f" (id {self.pk})" if self.pk is not None else ""
        return (f"Audit log {self.kind}{' ' + where if where else ''}{row}: {self.problem}. "
                f"The chain is broken at seq {self.seq}; {checked} row(s) before it verified.")


def unknown_key_problem(what: str, kid: str) -> str:
    return (f"{what} written under key id {kid}, which is neither AUDIT_CHAIN_KEY nor in AUDIT_CHAIN_PREVIOUS_KEYS "
            f"(put the retired key with id {kid} back in AUDIT_CHAIN_PREVIOUS_KEYS)")


def _rows(chunk_size: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size)


def _segments(keyed_from: int, keys: dict[str, bytes],
              checkpoint_key_ids: Iterable[str]) -> tuple[str, dict[int, tuple[str, str]]]:
    """(the first keyed segment's key id, {rotation row seq: (old key id, new key id)}). Rotation
    rows are trusted only as far as the walk verifies them, row by row."""
    rotations = {
        seq: (str(request.get("old_key_id", "")), str(request.get("new_key_id", "")))
        for seq, request in AuditEvent.objects.filter(action=ROTATED_ACTION).order_by("seq").values_list("seq", "request")
    }
    if rotations:
        return rotations[min(rotations)][0], rotations
    first = AuditEvent.objects.filter(seq=keyed_from).first()
    # Never rotated: the key that verifies the first keyed row. When none does, a checkpoint signed
    # by a key this process lacks names the key the rows were most likely written with (the old
    # key deployed away without moving it to AUDIT_CHAIN_PREVIOUS_KEYS); otherwise the current
    # key, and the walk names the break.
    found = key_of(first, keys) if first is not None else None
    unknown = next((kid for kid in checkpoint_key_ids if kid not in keys), None)
    return found or unknown or key_id(), rotations


def verify_chain(*, chunk_size: int = 2000, checkpoint_key_ids: Iterable[str] = ()) -> tuple[int, ChainBreak | None]:
    """Recompute every row's hash in order, each segment under its own key; return (rows checked,
    the first break or None). ``checkpoint_key_ids``: the key ids the checkpoints name, which tell
    a never-rotated chain under a key this process lacks (KEY_UNKNOWN) from a rewrite."""
    keyed_from = (
        AuditEvent.objects.filter(action=KEYED_ACTION).order_by("seq").values_list("seq", flat=True).first() or 1
    )
    keys = known_keys()
    checkpoint_key_ids = list(checkpoint_key_ids)
    segment, rotations = _segments(keyed_from, keys, checkpoint_key_ids)
    checked, prev_seq, prev_hash = 0, 0, ""
    rows = _rows(chunk_size)
    for event in rows:
        if event.seq != prev_seq + 1:
            return checked, ChainBreak(event.seq, event.pk, f"sequence jumps from {prev_seq} to {event.seq} (rows missing)", "GAP")
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(event.seq, event.pk, "prev_hash does not match the previous row's hash (row altered)")
        if event.seq < keyed_from:
            if not hmac.compare_digest(legacy_hash(event), event.hash):
                return checked, _hash_mismatch(event, next(rows, None), None)
        else:
            if event.seq in rotations:
                old, new = rotations[event.seq]
                if old != segment:
                    return checked, ChainBreak(event.seq, event.pk, f"the rotation row names old key id {old}, but the "
                                                                    f"rows before it are under key id {segment}")
                segment = new
            if segment not in keys:
                problem = unknown_key_problem(f"rows from seq {event.seq} were", segment)
                if checkpoint_key_ids and segment not in checkpoint_key_ids:
                    problem += (f"; no checkpoint names key id {segment} either: if it was never this log's key, "
                                "the rows naming it were forged")
                return checked, ChainBreak(event.seq, event.pk, problem, "KEY_UNKNOWN")
            if not _verifies(event, keys[segment]):
                following = next(rows, None)
                following_key = None if following is None else keys.get(rotations.get(following.seq, ("", segment))[1])
                return checked, _hash_mismatch(event, following, following_key)
        checked, prev_seq, prev_hash = checked + 1, event.seq, event.hash
    return checked, None


def _hash_mismatch(event: AuditEvent, following: AuditEvent | None, following_key: bytes | None) -> ChainBreak:
    """A row whose content does not match its hash. If the next row still verifies and links to
    the stored hash, that hash is the original: the content was edited in place. If the next row
    links to it but does not verify, the hashes were recomputed without the key: a re-chained
    rewrite. (The head alone is told apart by the checkpoints.)"""
    if (following is not None and following_key is not None and following.prev_hash == event.hash
            and not _verifies(following, following_key)):
        return ChainBreak(event.seq, event.pk, "rows from here on were rewritten and their hashes recomputed "
                                                   "without the chain key", "RECHAINED")
    if event.hash == legacy_hash(event):
        return ChainBreak(event.seq, event.pk, "the row was rewritten and re-hashed without the chain key", "RECHAINED")
    return ChainBreak(event.seq, event.pk, "content does not match its hash (row altered)")


def head() -> tuple[int, str]:
    """(seq, hash) of the newest row, (0, "") for an empty log."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (0, "")
