"""The steps of a sync: each reads Parsec through the gateway and hands the payloads to the
owning app's mapping and set writes (``customers.sync``, ``orders.sync``).

- ``sync_users``: every end-user through the builder users list (keyset pages to the end);
- ``sync_markets``: the market catalogue of the trading exchanges;
- ``sync_customer``: one customer's orders, fills, positions and balance on each linked exchange.

What "nothing new writes nothing" means: mirrored rows are written only when Parsec reports
something different, so ``last_seen_at`` is "when Parsec last showed this version"; when a
customer was last confirmed in full is ``Customer.last_full_sync_at``. A balance snapshot is a
new row only when the balance or allowance moved, so the history is a list of changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.upsert import upsert
from customers import sync as customers_sync
from customers.enums import TRADING_EXCHANGES
from customers.models import Customer, ExchangeLink
from orders import settlements
from orders import sync as orders_sync
from orders.models import ClosedReason, Fill, Market, Order, Position
from orders.selectors import live_orders
from parsec import types
from parsec.client import ParsecClient, get_client
from parsec.errors import NotFound
from sync.models import SyncRun
from sync.report import ReadDigests, SyncReport, advance_progress, call_parsec, recording

USERS_PAGE_SIZE = 100
MARKETS_BATCH = 100  # parsec_ids per /markets call (Parsec's maximum)
ORDERS_PAGE_LIMIT = 500  # Parsec's clamp for status=all
FILLS_LIMIT = 1000
MARKETS_PAGE_SIZE = 100


# --- end-users ---------------------------------------------------------------------------


def sync_users(*, run: SyncRun, client: ParsecClient | None = None) -> SyncRun:
    """Every end-user through the builder users list, following the keyset cursor to the end.

    Customers the complete list no longer shows are marked deactivated (Parsec lists active
    users only); that happens only when every page was read, and see ``_deactivate_unlisted``.
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
            report.add(customers_sync.upsert_users(list(page.users), now=now))
            report.steps_ok += 1
            seen.update(uuid.UUID(str(u.customer_id)) for u in page.users)
            pages += 1
            advance_progress(run, done=len(seen))
            if not page.next_cursor or page.next_cursor == cursor:
                complete = True
                break
            cursor = page.next_cursor
        if complete and len(seen) < 50_000:
            _deactivate_unlisted(client, report, seen=seen, started=now)
    return run


_GONE = object()


def _deactivate_unlisted(client: ParsecClient, report: SyncReport, *, seen: set[uuid.UUID], started: datetime) -> None:
    """Deactivate the active customers the complete list did not show, once a second read says so.

    The list is ordered by external id and read page by page, so an end-user created while the
    sync was paging (say by an operator in the admin) may sort behind the cursor and be missing
    although active. Customers first mirrored after this run started are not judged by it; each
    other missing one is read again (``GET /builder/users/{id}``): gone (404) or deactivated, it is
    marked; still active, it is kept and mirrored from that read; a failed read decides nothing.
    """
    unlisted = (
        Customer.objects.filter(status=Customer.Status.ACTIVE, first_seen_at__lt=started)
        .exclude(parsec_customer_id__in=seen).order_by("pk").values_list("pk", "parsec_customer_id")
    )
    gone = []
    for pk, parsec_id in unlisted:
        def read(customer_id=str(parsec_id)):
            try:
                return client.get_user(customer_id=customer_id)
            except NotFound:
                return _GONE

        user = call_parsec(report, f"user {parsec_id}", read)
        if user is _GONE or (user is not None and (user.status or "").lower() in customers_sync.DEACTIVATED_STATUSES):
            gone.append(pk)
        elif user is not None:
            report.add(customers_sync.upsert_users([user], now=timezone.now()))
    if gone:
        now = timezone.now()
        report.updated += Customer.objects.filter(pk__in=gone, status=Customer.Status.ACTIVE).update(
            status=Customer.Status.DEACTIVATED, deactivated_at=now, last_synced_at=now,
        )


# --- markets -----------------------------------------------------------------------------


def sync_markets(*, run: SyncRun, client: ParsecClient | None = None, exchanges: list[str] | None = None) -> SyncRun:
    """The active catalogue of the trading exchanges, page by page to the end; then every market
    the mirror follows (a position, a live order or a fill in it) that the list no longer shows,
    read by ``parsec_id`` in batches of 100, so a market that closed, resolved or was voided is
    seen so; then the settlements that those ends explain."""
    client = client or get_client()
    exchanges = exchanges or list(TRADING_EXCHANGES)
    now = timezone.now()
    with recording(run) as report:
        cursor, pages, seen = None, 0, 0
        listed: set[str] = set()
        while True:
            page = call_parsec(
                report, f"markets page {pages + 1}",
                lambda c=cursor: client.list_markets(exchanges=exchanges, limit=MARKETS_PAGE_SIZE, cursor=c),
            )
            if page is None:
                break
            wanted = [m for m in page.markets if m.exchange in exchanges]
            listed.update(m.parsec_id for m in wanted)
            report.add(orders_sync.upsert_markets(wanted, now=now))
            report.steps_ok += 1
            pages += 1
            seen += len(page.markets)
            advance_progress(run, done=seen)
            if not page.has_more or not page.next_cursor or page.next_cursor == cursor:
                break
            cursor = page.next_cursor
        followed = set(followed_markets(exchanges=exchanges).exclude(parsec_id__in=listed).values_list("pk", flat=True))
        unknown = unlinked_market_ids(exchanges=exchanges)
        settled = follow_markets(client=client, report=report, market_pks=followed, unknown=unknown, now=now)
        if settled:
            inferred = settlements.infer_settlements(market_ids=settled, now=now)
            report.created += inferred.settled
    return run


def followed_markets(*, exchanges: list[str]):
    """Markets not yet settled that the mirror holds a position, a live order or a fill in."""
    held = (Exists(Position.objects.filter(market=OuterRef("pk"), is_open=True))
            | Exists(Position.objects.filter(market=OuterRef("pk"), closed_reason=ClosedReason.GONE))
            | Exists(Order.objects.filter(market=OuterRef("pk"), status__in=list(Order.LIVE_STATUSES)))
            | Exists(Fill.objects.filter(market=OuterRef("pk"))))
    final = [*Market.SETTLED_STATUSES, Market.Status.ARCHIVED]
    return Market.objects.filter(exchange__in=exchanges).exclude(status__in=final).filter(held)


def unlinked_market_ids(*, exchanges: list[str], customer: Customer | None = None) -> set[tuple[str, str]]:
    """(exchange, market id) that orders, fills or positions name but the catalogue does not hold."""
    found: set[tuple[str, str]] = set()
    for model in (Fill, Position, Order):
        rows = model.objects.filter(exchange__in=exchanges, market__isnull=True)
        if customer is not None:
            rows = rows.filter(customer=customer)
        found.update(rows.values_list("exchange", "market_native_id").distinct()[:MARKETS_BATCH])
    return found


def follow_markets(*, client: ParsecClient, report: SyncReport, market_pks: set[int], unknown: set[tuple[str, str]],
                   now: datetime) -> set[int]:
    """Read markets by ``parsec_id`` (batches of 100), look for the ids the catalogue does not
    know, and return the pks of the markets now held as resolved or voided."""
    parsec_ids = list(Market.objects.filter(pk__in=market_pks).values_list("parsec_id", flat=True))
    # A Kalshi market's parsec_id is "kalshi:" + its ticker, the id its orders carry (NOTES §1);
    # a Polymarket order carries the condition id, which no parsec_id shows.
    parsec_ids += [f"{exchange}:{native}" for exchange, native in sorted(unknown) if exchange == "kalshi"]
    touched: set[str] = set()
    for start in range(0, len(parsec_ids), MARKETS_BATCH):
        batch = parsec_ids[start:start + MARKETS_BATCH]
        page = call_parsec(report, f"markets by id ({len(batch)})", lambda b=batch: client.list_markets(parsec_ids=b, limit=MARKETS_BATCH))
        if page is not None:
            report.add(orders_sync.upsert_markets(page.markets, now=now))
            touched.update(m.parsec_id for m in page.markets)
    missing = {(e, n) for e, n in unknown if not Market.objects.filter(exchange=e, order_market_id=n).exists()}
    if missing:
        touched.update(_discover_ended_markets(client=client, report=report, missing=missing, now=now))
    return set(Market.objects.filter(parsec_id__in=touched, status__in=list(Market.SETTLED_STATUSES)).values_list("pk", flat=True))


def _discover_ended_markets(*, client: ParsecClient, report: SyncReport, missing: set[tuple[str, str]], now: datetime) -> set[str]:
    """Walk Parsec's closed and resolved lists (SYNC_MARKET_DISCOVERY_PAGES at most) for markets
    the mirror meets only by the id orders carry; store only those."""
    found: set[str] = set()
    for exchange in sorted({e for e, _ in missing}):
        wanted = {n for e, n in missing if e == exchange}
        for status in (Market.Status.RESOLVED, Market.Status.CLOSED):
            cursor = None
            for number in range(settings.SYNC_MARKET_DISCOVERY_PAGES):
                page = call_parsec(report, f"{status} {exchange} markets page {number + 1}", lambda c=cursor, s=status, e=exchange: client.list_markets(
                    exchanges=[e], status=s, limit=MARKETS_PAGE_SIZE, cursor=c))
                if page is None:
                    break
                hits = [m for m in page.markets if {m.condition_id, m.exchange_market_id} & wanted]
                if hits:
                    report.add(orders_sync.upsert_markets(hits, now=now))
                    found.update(m.parsec_id for m in hits)
                    wanted -= {m.condition_id for m in hits} | {m.exchange_market_id for m in hits}
                if not wanted or not page.has_more or not page.next_cursor or page.next_cursor == cursor:
                    break
                cursor = page.next_cursor
            if not wanted:
                break
    return found


# --- one customer, every step ------------------------------------------------------------


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
                ("orders", lambda v=venue: sync_orders(client=client, customer=customer, exchange=v, since=since, report=report)),
                ("fills", lambda v=venue: sync_fills(client=client, customer=customer, exchange=v, report=report, digests=digests[v])),
                ("positions", lambda v=venue: sync_positions(
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
        report.add(customers_sync.record_balance(customer=customer, exchange=exchange, balance=balance, now=timezone.now()))
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


def fetch_orders_since(client: ParsecClient, *, customer: Customer, exchange: str, since: datetime) -> list[types.Order]:
    """Every order created at/after ``since`` (status=all), walking back when a page is full."""
    found: dict[str, types.Order] = {}
    end = None
    while True:
        page = client.list_orders(
            customer_id=str(customer.parsec_customer_id), exchange=exchange, status="all", start=since, end=end, limit=ORDERS_PAGE_LIMIT,
        )
        for order in page:
            found.setdefault(order.id, order)
        if len(page) < ORDERS_PAGE_LIMIT:
            return list(found.values())
        oldest = min((o.created_at for o in page if o.created_at), default=None)
        if oldest is None or (end is not None and oldest >= end):
            return list(found.values())
        end = oldest


def sync_orders(*, client: ParsecClient, customer: Customer, exchange: str, since: datetime, report: SyncReport) -> bool:
    """The status=all list since the window start, then a poll by id of every order the
    mirror still holds as live and the list did not show (an open-only view never says how
    an order ended)."""
    step = f"orders {exchange}"
    listed = call_parsec(report, step, lambda: fetch_orders_since(client, customer=customer, exchange=exchange, since=since))
    if listed is None:
        return False
    seen = {o.id for o in listed}
    live = list(live_orders(customer=customer, exchange=exchange).values_list("parsec_order_id", flat=True))
    polled, ok = [], True
    for order_id in (oid for oid in live if oid not in seen):
        got = call_parsec(
            report, f"order {exchange} {order_id}",
            lambda oid=order_id: _get_order(client, customer=customer, exchange=exchange, order_id=oid),
        )
        if got is None:
            ok = False
        else:
            polled.append(got)
    orders = [*listed, *polled]
    result = report.add(orders_sync.upsert_orders(orders, customer=customer, exchange=exchange))
    if result.written:
        report.saw_activity(max((o.updated_at or o.created_at for o in orders if (o.updated_at or o.created_at)), default=None))
    if live:
        report.saw_activity(timezone.now())  # a live order keeps the customer in the active tier
    return ok


def _get_order(client: ParsecClient, *, customer: Customer, exchange: str, order_id: str) -> types.Order:
    return client.get_order(customer_id=str(customer.parsec_customer_id), exchange=exchange, order_id=order_id)



def sync_fills(*, client: ParsecClient, customer: Customer, exchange: str, report: SyncReport, digests: ReadDigests | None = None) -> bool:
    fills = call_parsec(
        report, f"fills {exchange}",
        lambda: client.list_fills(customer_id=str(customer.parsec_customer_id), exchange=exchange, limit=FILLS_LIMIT),
    )
    if fills is None:
        return False
    digests = digests or ReadDigests()
    digest = ReadDigests.of([f.raw for f in fills])
    if digests.unchanged("fills", digest):
        report.unchanged += len(fills)
        return True
    rows = orders_sync.fill_rows(fills, customer=customer, exchange=exchange, now=timezone.now())
    result = report.add(upsert(orders_sync.FILL_SPEC, rows))
    if result.created:
        report.saw_activity(max((f.created_at for f in fills if f.created_at), default=None))
    digests.settle("fills", digest, complete=not result.rejected and all(row["order_id"] and row["market_id"] for row in rows))
    return True



def sync_positions(*, client: ParsecClient, customer: Customer, exchange: str, report: SyncReport, digests: ReadDigests | None = None) -> bool:
    positions = call_parsec(
        report, f"positions {exchange}", lambda: client.list_positions(customer_id=str(customer.parsec_customer_id), exchange=exchange),
    )
    if positions is None:
        return False
    digests = digests or ReadDigests()
    digest = ReadDigests.of([p.raw for p in positions])
    if digests.unchanged("positions", digest):
        report.unchanged += len(positions)
        # A holding Parsec never listed (its market settled before the mirror read it) leaves
        # the list unchanged: it still needs its settlement. Nothing to look at only when the
        # fills read was unchanged too and the last look found nothing waiting (a market that
        # ends later is the markets sync's to follow and settle).
        if not (digests.same_this_run >= {"fills", "positions"} and digests.flag("positions", QUIET)):
            quiet = settle_ended_holdings(client=client, customer=customer, exchange=exchange, report=report, now=timezone.now())
            digests.set_flag("positions", QUIET, quiet)
        return True
    now = timezone.now()
    rows = orders_sync.position_rows(positions, customer=customer, exchange=exchange, now=now)
    result = report.add(orders_sync.replace_positions(rows, customer=customer, exchange=exchange, now=now))
    quiet = settle_ended_holdings(client=client, customer=customer, exchange=exchange, report=report, now=now)
    digests.settle("positions", digest, complete=not result.rejected and all(row["market_id"] for row in rows),
                   flags={QUIET: quiet})
    return True


# The positions digest's flag: the last look at ended holdings found none waiting on a market.
QUIET = "settled_quiet"


def settle_ended_holdings(*, client: ParsecClient, customer: Customer, exchange: str, report: SyncReport, now: datetime) -> bool:
    """A holding no longer listed, or never listed, may have been settled: read the markets it
    waits on (by parsec_id, outside any transaction) and write the settlements they explain.
    True when nothing was waiting and nothing was settled (a quiet look)."""
    waiting = settlements.needs_market_read(customer_ids=[customer.pk], exchange=exchange)
    unknown = {(exchange, native) for native in settlements.unlisted_holdings_at_unknown_markets(customer=customer, exchange=exchange)}
    if waiting or unknown:
        follow_markets(client=client, report=report, market_pks=waiting, unknown=unknown, now=now)
    inferred = settlements.infer_settlements(customer_ids=[customer.pk], exchange=exchange, now=now)
    report.created += inferred.settled
    return not waiting and not unknown and not inferred.settled
