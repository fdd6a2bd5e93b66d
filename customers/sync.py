"""Keep the customers mirror in step with Parsec, and run a whole customer's sync.

Each ``*_row`` function maps one gateway value to row fields; ``backoffice.upsert`` writes
many at once, skipping unchanged rows. Every run leaves a ``SyncRun`` with its counts, the
Parsec calls it made (counted by the gateway) and its errors.

What "nothing new writes nothing" means here: mirrored rows (customers, wallets, links,
balance snapshots, orders, fills, positions, markets) are written only when Parsec reports
something different. ``last_seen_at`` is therefore "when Parsec last showed this version";
when a customer was last confirmed in full is ``Customer.last_full_sync_at`` (bookkeeping,
one row, written once per run like the ``SyncRun`` itself). A balance snapshot is a new row
only when the balance or allowance moved, so the history is a list of changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backoffice.upsert import UpsertResult, UpsertSpec, upsert
from customers.enums import TRADING_EXCHANGES, Exchange
from customers.models import BalanceSnapshot, Customer, ExchangeLink, SyncRun, Wallet, allowance_columns
from parsec import calllog
from parsec.client import ParsecClient, get_client
from parsec.errors import ParsecError, RateLimited
from parsec.types import Balance, BuilderUser

logger = logging.getLogger(__name__)

T = TypeVar("T")
USERS_PAGE_SIZE = 100
DEACTIVATED_STATUSES = frozenset({"deactivated", "inactive", "disabled"})
KNOWN_EXCHANGES = frozenset(Exchange.values)


# --- the run record ----------------------------------------------------------------------


@dataclass
class SyncReport:
    """What one run did; written to its SyncRun when it ends."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict] = field(default_factory=list)
    steps_ok: int = 0
    latest_activity: datetime | None = None

    def add(self, result: UpsertResult) -> UpsertResult:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
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
    SyncRun.objects.filter(pk=run.pk).update(progress_done=min(done, total) if total is not None else done)


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


# --- end-users ---------------------------------------------------------------------------

CUSTOMER_SPEC = UpsertSpec(
    model=Customer,
    key=("parsec_customer_id",),
    fields=(
        "external_id", "tier", "qps_limit", "status", "fee_escrow_enabled", "fee_bps", "api_key_last4", "created_at",
        "deactivated_at", "raw",
    ),
    touch=("last_synced_at",),
    create_only=("first_seen_at",),
)

WALLET_SPEC = UpsertSpec(
    model=Wallet,
    key=("customer_id", "wallet_type", "address"),
    fields=("safe_address", "chain_id", "privy_wallet_id", "created_at", "raw"),
    touch=("last_seen_at",),
)

# Parsec reports only which exchanges are linked, so a link never changes once mirrored.
EXCHANGE_LINK_SPEC = UpsertSpec(
    model=ExchangeLink, key=("customer_id", "exchange"), fields=(), touch=("last_seen_at",), create_only=("linked_at", "mode"),
)


def customer_row(user: BuilderUser, *, now: datetime) -> dict[str, Any]:
    deactivated = (user.status or "").lower() in DEACTIVATED_STATUSES
    return {
        "parsec_customer_id": uuid.UUID(str(user.customer_id)),
        "external_id": user.external_id,
        "tier": user.tier or "",
        "qps_limit": user.qps_limit,
        "status": Customer.Status.DEACTIVATED if deactivated else Customer.Status.ACTIVE,
        "fee_escrow_enabled": user.fee_escrow_enabled,
        "fee_bps": user.fee_bps,
        "api_key_last4": user.api_key_last4,
        "created_at": user.created_at,
        "deactivated_at": None,
        "raw": user.raw,  # parsec.types strips api_key from every raw payload
        "last_synced_at": now,
        "first_seen_at": now,
    }


def wallet_row(user: BuilderUser, *, customer_pk: int, now: datetime) -> dict[str, Any] | None:
    wallet = user.wallet
    if wallet is None or not wallet.eoa_address:
        return None
    raw = {k: v for k, v in (user.raw.get("wallet") or {}).items() if k != "balances"}  # balances live in snapshots
    wallet_type = wallet.wallet_type if wallet.wallet_type in Wallet.Type.values else Wallet.Type.EOA
    return {
        "customer_id": customer_pk,
        "wallet_type": wallet_type,
        "address": wallet.eoa_address,
        "safe_address": wallet.safe_address or "",
        "chain_id": wallet.chain_id,
        "privy_wallet_id": wallet.privy_wallet_id or "",
        "created_at": wallet.created_at,
        "raw": raw,
        "last_seen_at": now,
    }


def upsert_users(users: list[BuilderUser], *, now: datetime) -> UpsertResult:
    """Customers, their wallet and their exchange links for one page of the users list."""
    rows = [customer_row(user, now=now) for user in users]
    result = upsert(CUSTOMER_SPEC, rows)
    pks = dict(Customer.objects.filter(parsec_customer_id__in=[r["parsec_customer_id"] for r in rows]).values_list("parsec_customer_id", "pk"))
    wallets, links = [], []
    for user, row in zip(users, rows, strict=True):
        customer_pk = pks[row["parsec_customer_id"]]
        wallet = wallet_row(user, customer_pk=customer_pk, now=now)
        if wallet:
            wallets.append(wallet)
        for exchange in user.linked_exchanges:
            if exchange in KNOWN_EXCHANGES:
                links.append({"customer_id": customer_pk, "exchange": exchange, "linked_at": now, "mode": ExchangeLink.Mode.UNKNOWN, "last_seen_at": now})
    result += upsert(WALLET_SPEC, wallets)
    result += upsert(EXCHANGE_LINK_SPEC, links)
    return result


def sync_users(*, run: SyncRun, client: ParsecClient | None = None) -> SyncRun:
    """Every end-user through the builder users list, following the keyset cursor to the end.

    Customers the complete list no longer shows are marked deactivated (Parsec lists active
    users only); that happens only when every page was read.
    """
    client = client or get_client()
    now = timezone.now()
    with recording(run) as report:
        seen: set[uuid.UUID] = set()
        cursor, pages, complete = None, 0, False
        while True:
            page = call_parsec(report, f"users page {pages + 1}", lambda c=cursor: client.list_users(limit=USERS_PAGE_SIZE, cursor=c))
            if page is None:
                break
            report.add(upsert_users(list(page.users), now=now))
            report.steps_ok += 1
            seen.update(uuid.UUID(str(u.customer_id)) for u in page.users)
            pages += 1
            advance_progress(run, done=len(seen))
            if not page.next_cursor or page.next_cursor == cursor:
                complete = True
                break
            cursor = page.next_cursor
        if complete:
            gone = Customer.objects.filter(status=Customer.Status.ACTIVE).exclude(parsec_customer_id__in=seen) if len(seen) < 50_000 else None
            if gone is not None:
                report.updated += gone.update(status=Customer.Status.DEACTIVATED, deactivated_at=now, last_synced_at=now)
    return run


# --- balances ----------------------------------------------------------------------------


def balance_row(balance: Balance) -> dict[str, Any]:
    inner = balance.raw.get("raw") if isinstance(balance.raw.get("raw"), dict) else {}
    return {"usdc_base_units": balance.usdc_base_units, **allowance_columns(inner.get("allowance")), "raw": balance.raw}


def record_balance(*, customer: Customer, exchange: str, balance: Balance, now: datetime) -> UpsertResult:
    """A new snapshot only when the balance (or allowance) moved since the latest one."""
    result = UpsertResult()
    if balance.usdc_base_units is None:
        raise ValueError(f"Parsec's {exchange} balance has no USDC amount we can read: {balance.raw!r}"[:300])
    row = balance_row(balance)
    compared = ("usdc_base_units", "allowance_base_units", "allowance_unlimited")

    def latest_is_same() -> bool:
        latest = BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).order_by("-taken_at", "-id").values(*compared).first()
        return latest is not None and all(latest[k] == row[k] for k in compared)

    # The common case (nothing moved) needs one read and no transaction; a snapshot is only
    # written under the customer row lock, which makes two workers agree on "the latest".
    if latest_is_same():
        result.unchanged += 1
        return result
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
        if latest_is_same():
            result.unchanged += 1
        else:
            BalanceSnapshot.objects.create(customer=customer, exchange=exchange, taken_at=now, **row)
            result.created += 1
    return result


# --- one customer, every step ------------------------------------------------------------


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
        return time.time() - float(stored.get("at", 0)) < settings.SYNC_DIGEST_MAX_AGE_SECONDS

    def settle(self, step: str, digest: str, *, complete: bool) -> None:
        """Store ``digest`` for ``step`` after a complete write, or drop it after an incomplete one."""
        if complete:
            wanted = {**self.stored, step: {"digest": digest, "at": int(time.time())}}
        else:
            wanted = {k: v for k, v in self.stored.items() if k != step}
        if wanted != self.stored and self.link_pk is not None:
            ExchangeLink.objects.filter(pk=self.link_pk).update(sync_digests=wanted)
        self.stored = wanted


def customer_exchanges(customer: Customer, exchange: str | None = None, *, linked: set[str] | None = None) -> list[str]:
    if linked is None:
        linked = set(customer.exchange_links.values_list("exchange", flat=True))
    wanted = [e for e in TRADING_EXCHANGES if e in linked]
    if exchange:
        return [e for e in wanted if e == exchange] or ([exchange] if exchange in TRADING_EXCHANGES else [])
    return wanted


STEPS_PER_EXCHANGE = 4


def sync_customer(*, run: SyncRun, exchange: str | None = None, client: ParsecClient | None = None) -> SyncRun:
    """Orders, fills, positions and balance of one customer on each linked exchange.

    Idempotent: a redelivered task runs it again and converges on the same rows. The orders
    window starts at the last *complete* sync minus an overlap, so a run that failed halfway
    leaves the window where it was.
    """
    from orders import sync as orders_sync

    client = client or get_client()
    customer = Customer.objects.get(pk=run.customer_id)
    links = {link.exchange: link for link in ExchangeLink.objects.filter(customer=customer).only("pk", "exchange", "sync_digests")}
    exchanges = customer_exchanges(customer, exchange, linked=set(links))
    digests = {venue: ReadDigests(links[venue].pk, dict(links[venue].sync_digests or {})) if venue in links else ReadDigests() for venue in exchanges}
    run.progress_total = len(exchanges) * STEPS_PER_EXCHANGE
    # Someone watches an on-demand or command run step by step; a scheduled run (thousands a
    # day, ~8 steps each) only records its outcome when it ends.
    live_progress = run.trigger != SyncRun.Trigger.BEAT
    if live_progress:
        SyncRun.objects.filter(pk=run.pk).update(progress_total=run.progress_total, progress_done=0)
    started = timezone.now()
    with recording(run) as report:
        if not customer.is_active:
            report.fail("customer", ValueError(f"{customer} is deactivated at Parsec; nothing to read"))
        done = 0
        since = orders_window_start(customer, now=started)
        for venue in exchanges if customer.is_active else ():
            steps = (
                ("orders", lambda v=venue: orders_sync.sync_orders(client=client, customer=customer, exchange=v, since=since, report=report)),
                ("fills", lambda v=venue: orders_sync.sync_fills(client=client, customer=customer, exchange=v, report=report, digests=digests[v])),
                ("positions", lambda v=venue: orders_sync.sync_positions(
                    client=client, customer=customer, exchange=v, report=report, digests=digests[v])),
                ("balance", lambda v=venue: sync_balance(client=client, customer=customer, exchange=v, report=report)),
            )
            for _name, step in steps:
                if step():
                    report.steps_ok += 1
                done += 1
                if live_progress:
                    advance_progress(run, done=done)
        _after_customer_run(customer, report, started=started, complete=not report.errors and exchange is None)
    return run


def sync_balance(*, client: ParsecClient, customer: Customer, exchange: str, report: SyncReport) -> bool:
    step = f"balance {exchange}"
    balance = call_parsec(report, step, lambda: client.get_balance(customer_id=str(customer.parsec_customer_id), exchange=exchange))
    if balance is None:
        return False
    try:
        report.add(record_balance(customer=customer, exchange=exchange, balance=balance, now=timezone.now()))
    except ValueError as exc:
        report.fail(step, exc)
        return False
    return True


def orders_window_start(customer: Customer, *, now: datetime) -> datetime:
    lookback = now - timedelta(seconds=settings.SYNC_ORDER_LOOKBACK_SECONDS)
    if customer.last_full_sync_at is None:
        return lookback
    return max(lookback, customer.last_full_sync_at - timedelta(seconds=settings.SYNC_ORDER_OVERLAP_SECONDS))


def _after_customer_run(customer: Customer, report: SyncReport, *, started: datetime, complete: bool) -> None:
    changes: dict[str, Any] = {}
    if complete:
        changes["last_full_sync_at"] = started
    if report.latest_activity and (customer.last_activity_at is None or report.latest_activity > customer.last_activity_at):
        changes["last_activity_at"] = report.latest_activity
    if changes:
        # Never move bookkeeping backwards when two runs of the same customer overlap.
        stale = Q(last_full_sync_at__isnull=True) | Q(last_full_sync_at__lt=started) if complete else Q()
        Customer.objects.filter(Q(pk=customer.pk) & stale).update(**changes)


def customer_qps_limit(parsec_customer_id: str) -> int | None:
    """The rate limiter's view of a customer's ``qps_limit`` (None: Parsec's default)."""
    try:
        key = uuid.UUID(str(parsec_customer_id))
    except ValueError:
        return None
    return Customer.objects.filter(parsec_customer_id=key).values_list("qps_limit", flat=True).first()
