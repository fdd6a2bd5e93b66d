"""Checkpoints of the chain's head, kept outside the database.

A checkpoint is (seq, hash, time) signed with the chain key, appended as one JSON line to
``AUDIT_CHECKPOINT_DIR/audit-checkpoints.jsonl`` (opened append-only, fsynced) and written to
the log stream (logger ``audit.checkpoint``, which production ships off the machine). The beat
writes one every ``AUDIT_CHECKPOINT_INTERVAL`` seconds and ``verify_audit_log`` one after every
clean run. Whoever rewrites the table cannot reach them, so a cut tail, a wipe or a re-chained
head shows against the checkpoints even where the rows left behind still link.

A sanctioned ``flush`` (never in production) writes a signed reset line: checkpoints before it
describe a database that no longer exists.

A checkpoint is signed with the key the chain's head is under (``chain.writing_key``) and names it
(``key_id``); it verifies under any known key (AUDIT_CHAIN_KEY or AUDIT_CHAIN_PREVIOUS_KEYS). Once
the file has moved on to a new key, a later line signed by a key it left behind is refused: a
retired (perhaps leaked) key cannot append a reset or a false head after the rotation (nor after
any line AUDIT_CHAIN_KEY signed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from audit.chain import (
    ChainBreak,
    chain_key,
    compute_hash,
    head,
    key_id,
    known_keys,
    unknown_key_problem,
    verify_chain,
    writing_key,
)
from audit.models import AuditEvent

logger = logging.getLogger("audit.checkpoint")
FILE_NAME = "audit-checkpoints.jsonl"
RESET = "reset"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    key_id: str
    reason: str
    signature: str = ""

    def payload(self) -> bytes:
        return f"{self.seq}|{self.hash}|{self.at}|{self.key_id}|{self.reason}".encode()

    def signed(self, key: bytes) -> Checkpoint:
        signature = hmac.new(key, self.payload(), hashlib.sha256).hexdigest()
        return Checkpoint(self.seq, self.hash, self.at, self.key_id, self.reason, signature)

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.signed(key).signature, self.signature)


def path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR) / FILE_NAME


def _append(checkpoint: Checkpoint) -> None:
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = (json.dumps(asdict(checkpoint), sort_keys=True) + "\n").encode()
    fd = os.open(path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.info("audit checkpoint seq %s (%s)", checkpoint.seq, checkpoint.reason, extra={"checkpoint": asdict(checkpoint)})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def write(*, reason: str) -> Checkpoint:
    """Checkpoint the current head. The head row's own hash is checked first, so a head that was
    rewritten without the key is never anchored."""
    seq, hash_ = head()
    event = AuditEvent.objects.get(seq=seq) if seq else None
    kid, key = writing_key(hash_, lambda: event)
    if event is not None and not hmac.compare_digest(compute_hash(event, key), event.hash):
        raise ValueError(f"the audit log's head (seq {seq}) does not verify; not checkpointing it")
    checkpoint = Checkpoint(seq=seq, hash=hash_, at=_now(), key_id=kid, reason=reason).signed(key)
    _append(checkpoint)
    return checkpoint


def write_reset() -> Checkpoint:
    kid, key = key_id(), chain_key()  # an emptied log starts under the current key
    checkpoint = Checkpoint(seq=0, hash="", at=_now(), key_id=kid, reason=RESET).signed(key)
    _append(checkpoint)
    return checkpoint


def key_ids() -> list[str]:
    """The key ids the checkpoint file's lines name, newest first (signatures unchecked)."""
    if not path().exists():
        return []
    named = []
    for line in reversed(path().read_text().splitlines()):
        try:
            kid = json.loads(line).get("key_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(kid, str) and kid not in named:
            named.append(kid)
    return named


@dataclass
class Reading:
    """The checkpoint file as read: the checkpoints since the last reset, and the first line that
    is not signed by a known key (``problem`` says why, ``kind`` CHECKPOINT or KEY_UNKNOWN)."""

    checkpoints: list[Checkpoint]
    line: int = 0
    problem: str = ""
    kind: str = ""


def read() -> Reading:
    if not path().exists():
        return Reading([])
    keys = known_keys()
    current = next(iter(keys))
    checkpoints: list[Checkpoint] = []
    left_behind: set[str] = set()
    signer = ""
    for number, line in enumerate(path().read_text().splitlines(), start=1):
        try:
            checkpoint = Checkpoint(**json.loads(line))
        except (ValueError, TypeError):
            return Reading(checkpoints, number, f"line {number} is not signed by the chain key: {path()} was "
                                                "tampered with", "CHECKPOINT")
        if checkpoint.key_id not in keys:
            return Reading(checkpoints, number, unknown_key_problem(f"line {number} of {path()} was",
                                                                    checkpoint.key_id), "KEY_UNKNOWN")
        if not checkpoint.valid(keys[checkpoint.key_id]):
            return Reading(checkpoints, number, f"line {number} is not signed by the chain key: {path()} was "
                                                "tampered with", "CHECKPOINT")
        if checkpoint.key_id in left_behind or (signer == current and checkpoint.key_id != current):
            return Reading(checkpoints, number, f"line {number} is signed by key id {checkpoint.key_id}, which the "
                                                f"checkpoints had left for key id {signer}: a retired key cannot sign "
                                                "new checkpoints", "CHECKPOINT")
        if signer and checkpoint.key_id != signer:
            left_behind.add(signer)
        signer = checkpoint.key_id
        if checkpoint.reason == RESET:
            checkpoints = []
        else:
            checkpoints.append(checkpoint)
    return Reading(checkpoints)


def compare(*, chunk_size: int = 1000) -> ChainBreak | None:
    """The log against every checkpoint since the last reset: each checkpointed row must still be
    there with the hash it had. Run after ``verify_chain`` found the rows themselves consistent."""
    reading = read()
    if reading.line:
        return ChainBreak(0, None, reading.problem, reading.kind)
    checkpoints = reading.checkpoints
    if not checkpoints:
        return None
    latest = max(checkpoints, key=lambda c: (c.seq, c.at))
    seq, _ = head()
    if seq == 0 and latest.seq > 0:
        return ChainBreak(0, None, f"no rows, but the checkpoint of {latest.at} saw seq {latest.seq}", "WIPED")
    if seq < latest.seq:
        return ChainBreak(seq, None, f"rows {seq + 1} to {latest.seq} are gone (the checkpoint of {latest.at} saw "
                                     f"seq {latest.seq})", "CUT")
    wanted = {}
    for checkpoint in checkpoints:
        if checkpoint.seq:
            wanted.setdefault(checkpoint.seq, checkpoint)
    seqs = sorted(wanted)
    for start in range(0, len(seqs), chunk_size):
        part = seqs[start:start + chunk_size]
        found = dict(AuditEvent.objects.filter(seq__in=part).values_list("seq", "hash"))
        for number in part:
            if not hmac.compare_digest(found.get(number, ""), wanted[number].hash):
                return ChainBreak(number, None, f"row {number} is not the row the checkpoint of {wanted[number].at} saw: "
                                                "the log was rewritten from here", "RECHAINED")
    return None


def verify() -> tuple[int, ChainBreak | None]:
    """The whole check: every row against its key's segment, then the log against the checkpoints.
    (rows checked, the first break or None)."""
    checked, broken = verify_chain(checkpoint_key_ids=key_ids())
    return checked, broken if broken is not None else compare()
