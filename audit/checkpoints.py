"""Checkpoints of the chain's head, kept outside the database.

A checkpoint is (seq, hash, time) signed with the chain key, appended as one JSON line to
``AUDIT_CHECKPOINT_DIR/audit-checkpoints.jsonl`` (opened append-only, fsynced) and written to
the log stream (logger ``audit.checkpoint``, which production ships off the machine). The beat
writes one every ``AUDIT_CHECKPOINT_INTERVAL`` seconds and ``verify_audit_log`` one after every
clean run. Whoever rewrites the table cannot reach them, so a cut tail, a wipe or a re-chained
head shows against the checkpoints even where the rows left behind still link.

A sanctioned ``flush`` (never in production) writes a signed reset line: checkpoints before it
describe a database that no longer exists.
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

from audit.chain import ChainBreak, chain_key, compute_hash, head, key_id
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

    def signed(self) -> Checkpoint:
        signature = hmac.new(chain_key(), self.payload(), hashlib.sha256).hexdigest()
        return Checkpoint(self.seq, self.hash, self.at, self.key_id, self.reason, signature)

    @property
    def valid(self) -> bool:
        return hmac.compare_digest(self.signed().signature, self.signature)


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
    if seq:
        event = AuditEvent.objects.get(seq=seq)
        if not hmac.compare_digest(compute_hash(event), event.hash):
            raise ValueError(f"the audit log's head (seq {seq}) does not verify; not checkpointing it")
    checkpoint = Checkpoint(seq=seq, hash=hash_, at=_now(), key_id=key_id(), reason=reason).signed()
    _append(checkpoint)
    return checkpoint


def write_reset() -> Checkpoint:
    checkpoint = Checkpoint(seq=0, hash="", at=_now(), key_id=key_id(), reason=RESET).signed()
    _append(checkpoint)
    return checkpoint


def read() -> tuple[list[Checkpoint], list[int]]:
    """The checkpoints since the last reset, and the numbers of lines that are not signed by the key."""
    if not path().exists():
        return [], []
    checkpoints: list[Checkpoint] = []
    forged: list[int] = []
    for number, line in enumerate(path().read_text().splitlines(), start=1):
        try:
            checkpoint = Checkpoint(**json.loads(line))
        except (ValueError, TypeError):
            forged.append(number)
            continue
        if not checkpoint.valid:
            forged.append(number)
        elif checkpoint.reason == RESET:
            checkpoints = []
        else:
            checkpoints.append(checkpoint)
    return checkpoints, forged


def compare(*, chunk_size: int = 1000) -> ChainBreak | None:
    """The log against every checkpoint since the last reset: each checkpointed row must still be
    there with the hash it had. Run after ``verify_chain`` found the rows themselves consistent."""
    checkpoints, forged = read()
    if forged:
        return ChainBreak(0, None, f"line {forged[0]} is not signed by the chain key: {path()} was tampered with",
                          "CHECKPOINT")
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
