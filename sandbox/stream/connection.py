"""One client of the stream (NOTES §10): auth, subscribe / unsubscribe / resync, limits, its queue.

Protocol as Parsec's docs and the official SDK (``parsec_api.streaming``) have it:
- the first message within ``SANDBOX_WS_AUTH_TIMEOUT_SECONDS`` (15 s) is ``{"type": "auth",
  "api_key": ...}``: ``auth_ok {customer_id}``, or ``auth_error`` (1002) and the socket closes;
  anything else first gets ``error`` 1001, a second auth gets ``error`` 1001 "already authenticated";
- ``subscribe`` / ``unsubscribe`` take ``markets: [{parsec_id | exchange + market_id, outcome?,
  depth?}]``; ``resync`` takes one selector (as the SDK sends it) or ``markets``. Together at most
  ``SANDBOX_WS_CONTROL_PER_SECOND`` (3) in any second, else ``error`` 3001. A binary market without
  an outcome means its first outcome (Yes); on unsubscribe and resync, all its subscribed outcomes.
- depth defaults to 50, clamped to the key's tier (``ws_max_depth``); subscriptions per key are
  limited by tier (``ws_max_subscriptions``, over every connection of the key), else 3002.
- Each subscription numbers its book messages (snapshot, then each delta +1) and, separately, its
  activity messages: the SDK asks for a resync whenever a delta's server_seq is not the previous
  book message's + 1, so activity cannot share the book's sequence.
- ``fill`` activity goes to the connections of the key that owns the order, for the books they
  subscribe to; ``trade`` activity to every subscriber of the book.

Messages wait in the connection's queue and one task writes them in order. A queue longer than
``SANDBOX_WS_QUEUE_LIMIT`` means the client reads too slowly: the message is dropped and its book
stops (``slow_reader`` then ``resync_required``; the SDK answers with ``resync``, which sends a
fresh snapshot). Answers to the client's own requests (auth, errors, snapshots, heartbeats for its
pings) are always queued.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass

from sandbox import conf
from sandbox import usage as meter
from sandbox.stream import hub, messages
from sandbox.stream.messages import (
    AUTH_INVALID,
    AUTH_REQUIRED,
    INVALID_MARKET,
    INVALID_OUTCOME,
    MARKET_NOT_FOUND,
    MAX_SUBSCRIPTIONS,
    RATE_LIMITED,
)

logger = logging.getLogger("sandbox.stream")

DEFAULT_DEPTH = 50
MAX_MARKETS_PER_MESSAGE = 100
CONTROL_WINDOW_SECONDS = 1.0
PING_EVENT = "sandbox.ping"  # sandbox.server.StreamProtocol: the client pinged


@dataclass(frozen=True)
class Account:
    pk: int
    customer_id: str
    tier: str
    max_subscriptions: int
    max_depth: int


@dataclass(frozen=True)
class Resolved:
    """One market selector of a message: an error message, or the books it names."""

    error: dict | None
    infos: tuple = ()
    depth: int | None = None
    label: str | None = None


class Connection:
    def __init__(self, send):
        self._send = send
        self.account: Account | None = None
        self.subscriptions: dict[int, hub.Subscription] = {}
        self.queue: deque = deque()
        self._wake = asyncio.Event()
        self._control: deque = deque(maxlen=conf.SANDBOX_WS_CONTROL_PER_SECOND)
        self.closed = False
        self._pump = asyncio.get_running_loop().create_task(self._write())
        self._pump.add_done_callback(_quietly)

    @property
    def customer_id(self) -> str | None:
        return self.account.customer_id if self.account else None

    @property
    def customer_pk(self) -> int | None:
        return self.account.pk if self.account else None

    # --- Outgoing -----------------------------------------------------------------------

    def send(self, text: str, *, subscription: hub.Subscription | None = None, answer: bool = False) -> None:
        """Queue a message; past the bound a subscription's message is dropped and its book stops."""
        if self.closed:
            return
        if not answer and len(self.queue) >= conf.SANDBOX_WS_QUEUE_LIMIT:
            if subscription is not None and subscription.live:
                subscription.live = False
                self.queue.append(messages.book_notice("slow_reader", subscription.book))
                self.queue.append(messages.book_notice("resync_required", subscription.book))
            return
        self.queue.append(text)
        self._wake.set()

    def reply(self, message: dict) -> None:
        self.send(messages.encode(message), answer=True)

    async def _write(self) -> None:
        queue = self.queue
        while True:
            while not queue:
                self._wake.clear()
                await self._wake.wait()
            item = queue.popleft()
            if isinstance(item, tuple):  # ("close", code, reason): after everything queued before it
                await self._send({"type": "websocket.close", "code": item[1], "reason": item[2]})
                return
            await self._send({"type": "websocket.send", "text": item})
            meter.sent(self.customer_id, len(item))  # JSON text is ASCII: characters = bytes

    async def close(self, code: int, reason: str) -> None:
        """Send what is queued, then close the socket."""
        self.queue.append(("close", code, reason))
        self._wake.set()
        await asyncio.wait([self._pump], timeout=5)

    def end(self) -> None:
        self.closed = True
        for subscription in self.subscriptions.values():
            hub.unsubscribe(subscription)
        self.subscriptions.clear()
        self._pump.cancel()

    # --- Incoming -----------------------------------------------------------------------

    async def authenticate(self, receive) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + conf.SANDBOX_WS_AUTH_TIMEOUT_SECONDS
        while True:
            try:
                event = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                meter.count(None, "auth_failures_total")
                self.reply(messages.error(AUTH_REQUIRED, f"authentication timed out: no auth message within "
                                                         f"{conf.SANDBOX_WS_AUTH_TIMEOUT_SECONDS:g} s"))
                await self.close(1008, "authentication timed out")
                return False
            if event["type"] == "websocket.disconnect":
                return False
            if event["type"] != "websocket.receive":
                continue
            message = _parse(event)
            if message is None:
                self.reply(messages.error(INVALID_MARKET, "invalid message: expected a JSON object with a type"))
                continue
            if message["type"] == "auth_terminal":
                return await self._refuse("terminal tokens are not supported by the sandbox")
            if message["type"] != "auth":
                self.reply(messages.error(AUTH_REQUIRED, 'authentication required: send {"type": "auth", "api_key": ...} first'))
                continue
            api_key = message.get("api_key")
            account = await hub.blocking(_account, api_key) if isinstance(api_key, str) and api_key else None
            if account is None:
                return await self._refuse("invalid api key")
            self.account = account
            meter.authenticated(account.customer_id)
            self.reply({"type": "auth_ok", "customer_id": account.customer_id})
            return True

    async def _refuse(self, reason: str) -> bool:
        meter.count(None, "auth_failures_total")
        self.reply({"type": "auth_error", "code": AUTH_INVALID, "message": reason})
        await self.close(1008, reason)
        return False

    async def listen(self, receive) -> None:
        while True:
            event = await receive()
            kind = event["type"]
            if kind == "websocket.disconnect":
                return
            if kind == PING_EVENT:
                self.send(messages.heartbeat(), answer=True)
            elif kind == "websocket.receive":
                await self._handle(_parse(event))

    async def _handle(self, message: dict | None) -> None:
        if message is None:
            self.reply(messages.error(INVALID_MARKET, "invalid message: expected a JSON object with a type"))
            return
        kind = message["type"]
        if kind in ("auth", "auth_terminal"):
            self.reply(messages.error(AUTH_REQUIRED, "already authenticated"))
        elif kind in ("subscribe", "unsubscribe", "resync"):
            if not self._allow_control():
                limit = conf.SANDBOX_WS_CONTROL_PER_SECOND
                self.reply(messages.error(RATE_LIMITED, f"rate limited: at most {limit} subscribe, unsubscribe and resync messages per second"))
                return
            await getattr(self, f"_{kind}")(message)
        else:
            self.reply(messages.error(INVALID_MARKET, f"unknown message type: {kind}"))

    def _allow_control(self) -> bool:
        now = asyncio.get_running_loop().time()
        window = self._control
        if len(window) == window.maxlen and now - window[0] < CONTROL_WINDOW_SECONDS:
            return False
        window.append(now)
        return True

    async def _selectors(self, message: dict, *, every_outcome: bool) -> list[Resolved] | None:
        entries = message.get("markets")
        if not isinstance(entries, list) or not entries:
            self.reply(messages.error(INVALID_MARKET, f"{message['type']} needs a non-empty markets array"))
            return None
        if len(entries) > MAX_MARKETS_PER_MESSAGE:
            self.reply(messages.error(INVALID_MARKET, f"at most {MAX_MARKETS_PER_MESSAGE} markets per message"))
            return None
        results = await hub.blocking(_resolve, entries, every_outcome)
        for result in results:
            if result.error is not None:
                self.reply(result.error)
        return [result for result in results if result.error is None]

    async def _subscribe(self, message: dict) -> None:
        meter.count(self.customer_id, "subscribe_requests_total")
        account = self.account
        for result in await self._selectors(message, every_outcome=False) or ():
            info = result.infos[0]
            depth = min(result.depth or DEFAULT_DEPTH, account.max_depth)
            current = self.subscriptions.get(info.outcome_id)
            if current is not None:  # subscribed again: a fresh snapshot, at the depth asked now
                if current.depth != depth:
                    hub.change_depth(current, depth)
                hub.send_snapshot(current)
                continue
            if meter.active_subscriptions(account.customer_id) >= account.max_subscriptions:
                self.reply(messages.error(
                    MAX_SUBSCRIPTIONS, f"max subscriptions reached (limit: {account.max_subscriptions}, tier: {account.tier})",
                    info.identity["parsec_id"]))
                continue
            self.subscriptions[info.outcome_id] = hub.subscribe(self, info, depth)

    async def _unsubscribe(self, message: dict) -> None:
        meter.count(self.customer_id, "unsubscribe_requests_total")
        for result in await self._selectors(message, every_outcome=True) or ():
            for info in result.infos:
                subscription = self.subscriptions.pop(info.outcome_id, None)
                if subscription is not None:
                    hub.unsubscribe(subscription)

    async def _resync(self, message: dict) -> None:
        if "markets" not in message:  # the SDK's form: one selector at the top level
            message = {"type": "resync", "markets": [{key: message.get(key) for key in ("parsec_id", "exchange", "market_id", "outcome")}]}
        for result in await self._selectors(message, every_outcome=True) or ():
            found = [self.subscriptions[info.outcome_id] for info in result.infos if info.outcome_id in self.subscriptions]
            if not found:
                self.reply(messages.error(INVALID_MARKET, f"not subscribed to {result.label}", result.label))
            for subscription in found:
                hub.send_snapshot(subscription)


async def serve(scope, receive, send) -> None:
    """The ASGI WebSocket application of ``/ws`` (sandbox.server)."""
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    connection = Connection(send)
    hub.connections.add(connection)
    meter.opened()
    try:
        if await connection.authenticate(receive):
            await connection.listen(receive)
    except OSError:  # the client went away while we wrote (uvicorn's ClientDisconnected)
        pass
    except Exception:
        logger.exception("stream connection failed")
        await connection.close(1011, "internal error")
    finally:
        hub.connections.discard(connection)
        connection.end()
        meter.closed(connection.customer_id)


def _quietly(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # a client that went away mid-write: nothing to report


def _parse(event: dict) -> dict | None:
    raw = event.get("text")
    if raw is None:
        raw = event.get("bytes") or b""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


# --- Database look-ups (run off the loop) ------------------------------------------------------

def _account(api_key: str) -> Account | None:
    from sandbox import ratelimit
    from sandbox.api.trading import TIER_LIMITS
    from sandbox.models import Customer

    customer = Customer.objects.filter(api_key=api_key, active=True).first()
    if customer is None:
        return None
    tier = ratelimit.key_tier(customer)
    limits = TIER_LIMITS[tier]
    return Account(pk=customer.pk, customer_id=str(customer.customer_id), tier=tier,
                   max_subscriptions=limits["ws_max_subscriptions"], max_depth=limits["ws_max_depth"])


def _resolve(entries: list, every_outcome: bool) -> list[Resolved]:
    return [_resolve_one(entry, every_outcome) for entry in entries]


def _resolve_one(entry, every_outcome: bool) -> Resolved:
    from sandbox.api.trading import find_market
    from sandbox.engine import _find_outcome
    from sandbox.models import Market

    def fail(code: int, text: str, label: str | None = None) -> Resolved:
        return Resolved(messages.error(code, text, label))

    if not isinstance(entry, dict):
        return fail(INVALID_MARKET, "each market must be an object with parsec_id, or exchange and market_id")
    parsec_id, exchange, market_id = entry.get("parsec_id"), entry.get("exchange"), entry.get("market_id")
    if parsec_id is not None:
        if not isinstance(parsec_id, str) or not parsec_id.strip():
            return fail(INVALID_MARKET, "parsec_id must be a non-empty string")
        wanted = parsec_id.strip()
        market = Market.objects.filter(parsec_id=wanted).first()
    elif isinstance(exchange, str) and isinstance(market_id, str) and exchange.strip() and market_id.strip():
        wanted = f"{exchange.strip().lower()}:{market_id.strip()}"
        market = find_market(exchange.strip().lower(), market_id.strip())
    else:
        return fail(INVALID_MARKET, "a market needs parsec_id, or exchange and market_id")
    if market is None:
        return fail(MARKET_NOT_FOUND, f"market not found: {wanted}", parsec_id if isinstance(parsec_id, str) else None)
    label = market.parsec_id
    outcomes = list(market.outcomes.order_by("index"))
    outcome = entry.get("outcome")
    if outcome is None:
        if every_outcome:
            chosen = outcomes
        elif market.market_type != "binary":
            return fail(INVALID_OUTCOME, "outcome is required for categorical markets", label)
        else:
            chosen = outcomes[:1]
    elif not isinstance(outcome, str):
        return fail(INVALID_OUTCOME, "outcome must be a string", label)
    else:
        found = _find_outcome(outcomes, outcome)
        if found is None:
            return fail(INVALID_OUTCOME, f"outcome must be one of: {', '.join(o.name for o in outcomes)}", label)
        chosen = [found]
    depth = entry.get("depth")
    if depth is not None:
        whole = isinstance(depth, int) or (isinstance(depth, float) and depth.is_integer())
        if isinstance(depth, bool) or not whole or depth < 1:
            return fail(INVALID_MARKET, "depth must be a positive integer", label)
        depth = int(depth)
    infos = tuple(
        hub.BookInfo(outcome_id=o.pk, identity=messages.identity(market, o), title=market.question,
                     tick_size=float(market.tick_size), min_order_size=float(market.min_order_size))
        for o in chosen
    )
    return Resolved(None, infos, depth, label)
