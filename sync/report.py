"""The record of one sync run: what it did, the Parsec calls it made and its errors.

``recording(run)`` wraps a run: it counts the gateway's calls and stores the ``SyncReport`` on
the ``SyncRun`` when the run ends, even when it crashed. ``call_parsec`` is how every step reads:
a 429 is waited out a few times, any other failure is recorded and the run goes on.
``ReadDigests`` lets a step skip comparing a list it already stored in full.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.utils import timezone

from core.upsert import UpsertResult
from customers.models import Customer, ExchangeLink
from parsec import calllog
from parsec.errors import ParsecError, RateLimited
from sync.models import SyncRun

logger = logging.getLogger(__name__)

T = TypeVar("T")

BAD_ROWS_RECORDED = 50


@dataclass
class SyncReport:
    """What one run did; written to its SyncRun when it ends."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)
    steps_ok: int = 0
    latest_activity: datetime | None = None
    bad_rows: int = 0

    def add(self, result: UpsertResult) -> UpsertResult:
        """Count what a write did; each row the database refused is an error of the run, with its
        id and Parsec's payload (the first ``BAD_ROWS_RECORDED`` in full, then a count)."""
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        for bad in result.rejected:
            logger.warning("sync skipped a %s row Parsec sent (%s): %s", bad.model, bad.id, bad.error)
            self.bad_rows += 1
            if self.bad_rows <= BAD_ROWS_RECORDED:
                self.errors.append({
                    "step": bad.model, "code": "bad_row", "id": bad.id, "error": bad.error, "payload": bad.payload,
                    "at": timezone.now().isoformat(),
                })
        return result

    def fail(self, step: str, exc: BaseException) -> None:
        code = getattr(exc, "code", "") or type(exc).__name__
        logger.warning("sync step %s failed: %s (%s)", step, exc, code)
        self.errors.append({"step": step, "error": str(exc)[:500], "code": str(code)[:64], "at": timezone.now().isoformat()})

    def saw_activity(self, when: datetime | None) -> None:
        if when is not None and (self.latest_activity is None or when > self.latest_activity):
            self.latest_activity = when

    @property
    def written(self) -> int:
        return self.created + self.updated


def start_run(
    *, kind: str, customer: Customer | None = None, exchange: str = "", trigger: str = SyncRun.Trigger.BEAT,
    requested_by=None, progress_total: int | None = None,
) -> SyncRun:
    return SyncRun.objects.create(
        kind=kind, customer=customer, exchange=exchange or "", trigger=trigger, requested_by=requested_by,
        progress_total=progress_total,
    )


@contextmanager
def recording(run: SyncRun) -> Iterator[SyncReport]:
    """Count the run's Parsec calls and store its report when it ends, even if it crashed."""
    report = SyncReport()
    with calllog.counting_calls() as calls, calllog.batched():
        try:
            yield report
        except Exception as exc:
            report.fail("run", exc)
            _finish(run, report, calls)
            raise
        _finish(run, report, calls)


def _finish(run: SyncRun, report: SyncReport, calls: calllog.CallCount) -> None:
    if report.bad_rows > BAD_ROWS_RECORDED:
        report.errors.append({
            "step": "run", "code": "bad_row", "error": f"{report.bad_rows - BAD_ROWS_RECORDED} more rows refused (not listed)",
            "at": timezone.now().isoformat(),
        })
    if not report.errors:
        status = SyncRun.Status.SUCCEEDED
    elif report.steps_ok:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.FAILED
    finished = max(timezone.now(), run.started_at)
    done = run.progress_total if run.progress_total is not None else run.progress_done
    totals = {"progress_total": run.progress_total} if run.progress_total is not None else {}
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=finished, calls_made=calls.calls, rows_created=report.created,
        rows_updated=report.updated, rows_unchanged=report.unchanged, errors=report.errors, progress_done=done, **totals,
    )
    run.refresh_from_db()


def advance_progress(run: SyncRun, *, done: int) -> None:
    total = run.progress_total
    run.progress_done = min(done, total) if total is not None else done  # _finish writes it again
    SyncRun.objects.filter(pk=run.pk).update(progress_done=run.progress_done)


def call_parsec(report: SyncReport, step: str, fetch: Callable[[], T]) -> T | None:
    """Run one read; wait out a 429 (Retry-After) a few times; record any other failure.

    Returns None when the step failed (the run goes on with the next step).
    """
    waits = settings.SYNC_RATE_LIMIT_WAITS
    for attempt in range(waits + 1):
        try:
            return fetch()
        except RateLimited as exc:
            if not exc.retryable or attempt == waits:
                report.fail(step, exc)
                return None
            delay = exc.retry_after if exc.retry_after is not None else 1.0
            logger.info("sync step %s rate-limited; waiting %.2f s", step, delay)
            time.sleep(min(delay, 60.0))
        except ParsecError as exc:
            report.fail(step, exc)
            return None
    return None


@dataclass
class ReadDigests:
    """What the last complete read of a customer's lists on one exchange looked like.

    Parsec has no "since" for fills or positions, so every sync reads them whole. When a read
    hashes the same as the last one the mirror stored in full (every row written and linked
    to its order and market), the rows are already there: the sync skips comparing them one by
    one. A read that left a row unlinked forgets the digest, so the next sync compares again.
    """

    link_pk: int | None = None
    stored: dict = field(default_factory=dict)
    same_this_run: set = field(default_factory=set)  # the steps whose read hashed as stored, in this run

    @staticmethod
    def of(payloads: list) -> str:
        text = json.dumps(payloads, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def unchanged(self, step: str, digest: str) -> bool:
        """True when the last complete read of ``step`` hashed the same, within SYNC_DIGEST_MAX_AGE_SECONDS
        (a full comparison at least that often, whatever happened to the mirror's rows meanwhile)."""
        stored = self.stored.get(step)
        if not isinstance(stored, dict) or stored.get("digest") != digest:
            return False
        same = time.time() - float(stored.get("at", 0)) < settings.SYNC_DIGEST_MAX_AGE_SECONDS
        if same:
            self.same_this_run.add(step)
        return same

    def settle(self, step: str, digest: str, *, complete: bool, flags: dict | None = None) -> None:
        """Store ``digest`` for ``step`` after a complete write (with ``flags`` about what the step
        found), or drop it after an incomplete one."""
        if complete:
            wanted = {**self.stored, step: {"digest": digest, "at": int(time.time()), **(flags or {})}}
        else:
            wanted = {k: v for k, v in self.stored.items() if k != step}
        self._store(wanted)

    def flag(self, step: str, name: str) -> bool:
        stored = self.stored.get(step)
        return isinstance(stored, dict) and stored.get(name) is True

    def set_flag(self, step: str, name: str, value: bool) -> None:
        """Change a flag of a stored digest (nothing when the step has none)."""
        stored = self.stored.get(step)
        if isinstance(stored, dict) and stored.get(name) is not value:
            self._store({**self.stored, step: {**stored, name: value}})

    def _store(self, wanted: dict) -> None:
        if wanted != self.stored and self.link_pk is not None:
            ExchangeLink.objects.filter(pk=self.link_pk).update(sync_digests=wanted)
        self.stored = wanted
