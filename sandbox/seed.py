"""Deterministic seed: markets on both exchanges, a demo builder, demo customers with wallets.

Same ``--seed`` → same markets, ids, prices and demo wallets. Runs only on an empty database.
End dates are counted from the sandbox clock at seeding (the hour), so a fresh sandbox always
has markets ending within days (the fed-march event on both exchanges in 3 days, Kalshi's CPI
and snow markets in 6 and 10) and others months away; with SANDBOX_CLOSE_AT_END_DATE a market
closes when its end date passes (sandbox.lifecycle).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from eth_account import Account

from sandbox import accounts, engine
from sandbox.models import Builder, Customer, ExchangeLink, Market, Outcome, SandboxState, Wallet

DB = "sandbox"
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DEMO_EXTERNAL_IDS = ("demo-alice", "demo-bob", "demo-carol", "demo-dave")
MARKET_MAKER_CASH = 10**15  # base units; the makers are the counterparty of last resort

# (exchange, kind, event key, question, outcomes, tick, min size, start price of the first outcome, days to its end)
MARKETS = [
    ("polymarket", "binary", "fed-march", "Will the Fed cut rates in March 2026?", ["Yes", "No"], "0.01", "5", "0.37", 3),
    ("polymarket", "binary", "btc-100k", "Will Bitcoin close above $100k on June 30, 2026?", ["Yes", "No"], "0.01", "5", "0.55", 45),
    ("polymarket", "binary", "eth-etf", "Will ETH trade above $5,000 by year end 2026?", ["Yes", "No"], "0.01", "15", "0.22", 120),
    ("polymarket", "binary", "us-recession", "US recession declared in 2026?", ["Yes", "No"], "0.001", "5", "0.281", 200),
    ("polymarket", "binary", "gpt6", "Will GPT-6 be released before October 2026?", ["Yes", "No"], "0.01", "5", "0.48", 30),
    ("polymarket", "binary", "world-cup", "Will Brazil win the 2026 World Cup?", ["Yes", "No"], "0.01", "5", "0.14", 240),
    ("polymarket", "categorical", "world-cup-winner", "Who will win the 2026 World Cup?", ["Brazil", "France", "Argentina", "England", "Other"], "0.01", "5", "0.18", 240),
    ("polymarket", "categorical", "fed-decision", "Fed decision in March 2026?", ["Cut 50+", "Cut 25", "No change", "Hike"], "0.01", "5", "0.12", 3),
    ("polymarket", "binary", "midterms-house", "Will Democrats win the House in 2026?", ["Yes", "No"], "0.01", "5", "0.62", 340),
    ("kalshi", "binary", "fed-march", "Fed cuts rates at the March 2026 meeting", ["Yes", "No"], "0.01", "1", "0.36", 3),
    ("kalshi", "binary", "btc-100k", "Bitcoin above $100,000 on June 30, 2026", ["Yes", "No"], "0.01", "1", "0.54", 45),
    ("kalshi", "binary", "us-recession", "US in recession in 2026", ["Yes", "No"], "0.01", "1", "0.27", 200),
    ("kalshi", "binary", "nyc-snow", "Will NYC get 10+ inches of snow in February 2026?", ["Yes", "No"], "0.01", "1", "0.33", 10),
    ("kalshi", "binary", "cpi-march", "CPI above 3.0% in March 2026", ["Yes", "No"], "0.01", "1", "0.41", 6),
    ("kalshi", "categorical", "world-cup-winner", "2026 World Cup winner", ["Brazil", "France", "Argentina", "England", "Other"], "0.01", "1", "0.19", 240),
    ("kalshi", "binary", "midterms-house", "Democrats win the House in 2026", ["Yes", "No"], "0.01", "1", "0.61", 340),
]


def _hex(seed: int, label: str, nbytes: int) -> str:
    return "0x" + hashlib.sha256(f"{seed}:{label}".encode()).hexdigest()[: nbytes * 2]


def demo_private_key(seed: int, external_id: str) -> str:
    return _hex(seed, f"demo-wallet:{external_id}", 32)


def seed(seed_value: int) -> bool:
    """Fill an empty sandbox database. Returns False when it was already seeded (idempotent)."""
    if SandboxState.objects.filter(key="seed").exists():
        return False
    rng = random.Random(seed_value)
    now = SEED_EPOCH
    with transaction.atomic(using=DB):
        SandboxState.objects.create(key="seed", value=seed_value)
        builder = Builder.objects.create(
            name="Sandbox demo builder", treasury_address=_hex(seed_value, "treasury", 20),
            affiliate_address=_hex(seed_value, "affiliate", 20), created_at=now,
        )
        accounts.open_account(builder=builder, kind=Customer.Kind.BUILDER, external_id=None,
                              api_key=settings.SANDBOX_DEMO_BUILDER_KEY, now=now)
        accounts.open_account(builder=None, kind=Customer.Kind.MARKET_MAKER, external_id=None, now=now,
                              opening_balance=MARKET_MAKER_CASH)
        accounts.open_account(builder=None, kind=Customer.Kind.HOUSE, external_id=None, now=now, opening_balance=0)
        for index, external_id in enumerate(DEMO_EXTERNAL_IDS):
            customer = accounts.open_account(
                builder=builder, kind=Customer.Kind.END_USER, external_id=external_id,
                api_key=f"pk_sandbox_demo_{external_id.removeprefix('demo-')}", email=f"{external_id}@example.com", now=now,
            )
            Customer.objects.filter(pk=customer.pk).update(customer_id=_uuid(seed_value, external_id))
            key = demo_private_key(seed_value, external_id)
            Wallet.objects.create(
                customer=customer, wallet_type="eoa", eoa_address=Account.from_key(key).address,
                privy_wallet_id=f"wallet_demo_{index}", chain_id=137, demo_private_key=key, created_at=now,
            )
            for exchange in ("polymarket", "kalshi"):
                ExchangeLink.objects.create(
                    customer=customer, exchange=exchange, mode="managed" if exchange == "polymarket" else "self",
                    has_credentials=True, can_trade=True, created_at=now,
                    steps_done=["wallet_eoa_created", "exchange_linked"] if exchange == "polymarket" else ["credentials_validated", "credentials_stored"],
                )
        seeded_at = engine.clock.now().replace(minute=0, second=0, microsecond=0)
        for number, (exchange, kind, event, question, names, tick, min_size, start, days) in enumerate(MARKETS):
            _market(seed_value, rng, number, exchange, kind, event, question, names, Decimal(tick), Decimal(min_size), Decimal(start), now,
                    end_date=seeded_at + timedelta(days=days))
    engine.move_makers(now=engine.clock.now())
    return True


def _uuid(seed_value: int, label: str) -> str:
    import uuid

    return str(uuid.UUID(hashlib.sha256(f"{seed_value}:customer:{label}".encode()).hexdigest()[:32], version=4))


def _market(seed_value, rng, number, exchange, kind, event, question, names, tick, min_size, start, now, *, end_date) -> Market:
    slug = f"{event}-{number}"
    if exchange == "polymarket":
        native = str(570000 + number * 7 + rng.randint(0, 6))
        order_id = _hex(seed_value, f"condition:{slug}", 32)
        group = f"event_{560000 + number}"
        condition = order_id
    else:
        native = f"KX{event.upper().replace('-', '')}-26"
        order_id = native
        group = f"KX{event.upper().replace('-', '')}"
        condition = None
    market = Market.objects.create(
        exchange=exchange, exchange_market_id=native, parsec_id=f"{exchange}:{native}", order_market_id=order_id,
        condition_id=condition, exchange_group_id=group, parsec_group_id=f"{exchange}:{group}", event_id=f"ev:{event}",
        question=question, group_title=question, description=f"Sandbox market: {question}", slug=slug, market_type=kind,
        tick_size=tick, min_order_size=min_size, volume_seed=Decimal(rng.randint(5_000, 2_000_000)),
        end_date=end_date, created_at=now, updated_at=now,
    )
    if kind == "binary":
        mids = [start, 1 - start]
    else:
        # Categorical: each outcome has its own book; fair prices roughly sum to 1.
        weights = [start] + [Decimal(rng.randint(5, 30)) / 100 for _ in names[1:]]
        total = sum(weights)
        mids = [max(Decimal("0.02"), (w / total).quantize(tick)) for w in weights]
    for index, (name, mid) in enumerate(zip(names, mids, strict=True)):
        token = str(int(_hex(seed_value, f"token:{slug}:{index}", 31), 16)) if exchange == "polymarket" else None
        Outcome.objects.create(market=market, index=index, name=name, token_id=token, mid=mid, anchor_mid=mid)
    return market


# Demo customers that exist only with --demo-activity: two onboarded from one wallet, one new.
SHARED_WALLET_IDS = ("demo-erin", "demo-frank")
NEWCOMER_ID = "demo-grace"
DEMO_RESOLVED_QUESTION = "Demo: will the demo bill pass by Friday?"


def demo_activity(seed_value: int) -> int:
    """A little history for the demo customers, so a fresh back-office has something to show:
    on a few binary markets each buys at the market (fills against the makers) and rests a bid
    below it. Then one true case of each surveillance rule the back-office runs (compliance
    sees real alerts on a fresh start): carol buys the winner of a market that resolves at once
    (insider); dave puts most of his money in one market (concentration); erin and frank, onboarded
    from one wallet, trade with each other (self-crossing); bob places and cancels twenty bids
    (layering); alice places an order ten times her usual size (size change); grace, new, places
    a large first order (large notional). Deterministic for the seed. Returns the orders placed."""
    rng = random.Random(seed_value * 7919)
    binaries = [m for m in Market.objects.prefetch_related("outcomes").order_by("pk") if m.market_type == "binary"]
    placed = 0
    customers = {c.external_id: c for c in Customer.objects.filter(kind=Customer.Kind.END_USER, external_id__in=DEMO_EXTERNAL_IDS)}
    for external_id in DEMO_EXTERNAL_IDS:
        for market in rng.sample(binaries, k=min(3, len(binaries))):
            outcome = _yes(market)
            size = max(Decimal(10), market.min_order_size)
            for side_price, order_type in ((outcome.mid + Decimal("0.05"), "ioc"), (outcome.mid - Decimal("0.05"), "gtc")):
                _order(customers[external_id], market, outcome, "buy", side_price, size, order_type)
                placed += 1
    return placed + _surveillance_cases(seed_value, customers, binaries)


def _yes(market: Market) -> Outcome:
    return next(o for o in market.outcomes.all() if o.name.lower() == "yes")


def _order(customer, market, outcome, side, price, size, order_type="gtc"):
    price = (price / market.tick_size).quantize(Decimal(1)) * market.tick_size
    price = min(max(price, Decimal("0.01")), Decimal("0.99"))
    return engine.place_order(engine.NewOrder(customer=customer, exchange=market.exchange, market=market, outcome=outcome,
                                              side=side, price=price, size=size, order_type=order_type))


def _surveillance_cases(seed_value: int, customers: dict, binaries: list[Market]) -> int:
    from sandbox import lifecycle

    rng = random.Random(seed_value * 104729)
    now = engine.clock.now()
    builder = Builder.objects.order_by("pk").first()
    extra = {}
    shared_key = demo_private_key(seed_value, SHARED_WALLET_IDS[0])
    for index, external_id in enumerate((*SHARED_WALLET_IDS, NEWCOMER_ID), start=len(DEMO_EXTERNAL_IDS)):
        customer = accounts.open_account(builder=builder, kind=Customer.Kind.END_USER, external_id=external_id, now=now,
                                         api_key=f"pk_sandbox_demo_{external_id.removeprefix('demo-')}", email=f"{external_id}@example.com")
        Customer.objects.filter(pk=customer.pk).update(customer_id=_uuid(seed_value, external_id))
        key = shared_key if external_id in SHARED_WALLET_IDS else demo_private_key(seed_value, external_id)
        # The shared wallet's key is kept once: the chain's genesis funds and approves each demo key once.
        kept = None if external_id == SHARED_WALLET_IDS[1] else key
        Wallet.objects.create(customer=customer, wallet_type="eoa", eoa_address=Account.from_key(key).address,
                              privy_wallet_id=f"wallet_demo_{index}", chain_id=137, demo_private_key=kept, created_at=now)
        for exchange in ("polymarket", "kalshi"):
            ExchangeLink.objects.create(customer=customer, exchange=exchange, mode="managed" if exchange == "polymarket" else "self",
                                        has_credentials=True, can_trade=True, created_at=now, steps_done=["exchange_linked"])
        extra[external_id] = customer
    by_key = {m.exchange_group_id: m for m in binaries}
    placed = 0

    # Insider: carol buys Yes across the makers' asks of a market that then resolves Yes.
    seeded_at = now.replace(minute=0, second=0, microsecond=0)
    market = _market(seed_value, rng, len(MARKETS), "kalshi", "binary", "demo-bill", DEMO_RESOLVED_QUESTION, ["Yes", "No"],
                     Decimal("0.01"), Decimal("1"), Decimal("0.55"), now, end_date=seeded_at + timedelta(days=1))
    engine.move_makers(now=now)
    market = Market.objects.prefetch_related("outcomes").get(pk=market.pk)
    _order(customers["demo-carol"], market, _yes(market), "buy", Decimal("0.60"), Decimal(400), "ioc")
    lifecycle.resolve_market(market=market, winning_outcome="Yes")
    placed += 1

    # Concentration: dave buys the asks of one market, most of his open exposure.
    heavy = by_key.get("event_560008") or binaries[-1]
    _order(customers["demo-dave"], heavy, _yes(heavy), "buy", _yes(heavy).mid + Decimal("0.05"), Decimal(400), "ioc")
    placed += 1

    # Self-crossing: erin (who bought first) offers inside the spread and frank takes it.
    crossed = by_key.get("event_560001") or binaries[1]
    yes = _yes(crossed)
    _order(extra["demo-erin"], crossed, yes, "buy", yes.mid + Decimal("0.05"), Decimal(50), "ioc")
    _order(extra["demo-erin"], crossed, yes, "sell", yes.mid, Decimal(50), "gtc")
    _order(extra["demo-frank"], crossed, yes, "buy", yes.mid, Decimal(50), "ioc")
    placed += 3

    # Layering: bob rests twenty bids far below the market and cancels every one.
    layered = binaries[0]
    for _ in range(20):
        order = _order(customers["demo-bob"], layered, _yes(layered), "buy", Decimal("0.02"), max(Decimal(10), layered.min_order_size))
        engine.cancel_order(order=order)
        placed += 1

    # Size change: alice bids ten times her usual size.
    usual = binaries[2]
    _order(customers["demo-alice"], usual, _yes(usual), "buy", _yes(usual).mid - Decimal("0.05"), Decimal(150))
    placed += 1

    # Large notional with little history: grace's first order is a 1,200-share bid.
    first = by_key.get("event_560001") or binaries[1]
    _order(extra[NEWCOMER_ID], first, _yes(first), "buy", Decimal("0.50"), Decimal(1200))
    placed += 1
    return placed


def add_market(*, exchange: str, question: str, outcomes: list[str], price: Decimal, tick_size: Decimal,
               min_order_size: Decimal, end_date: datetime, event_key: str | None = None, makers_walk: bool = True) -> Market:
    """A market made through the control plane (``POST /_sandbox/markets``): fresh random ids, its
    own event unless ``event_key`` joins an existing one, no volume; the makers quote it at once
    around ``price`` (the first outcome's fair price; a binary's other side at 1 - price), and
    keep walking from there unless ``makers_walk`` is false."""
    now = engine.clock.now()
    kind = "binary" if len(outcomes) == 2 else "categorical"
    if exchange == "polymarket":
        native = str(10**12 + secrets.randbelow(10**12))
        order_id = "0x" + secrets.token_hex(32)
        group = f"event_{native}"
    else:
        native = f"KXSBX{secrets.token_hex(5).upper()}-26"
        order_id = native
        group = native.removesuffix("-26")
    if kind == "binary":
        mids = [price, 1 - price]
    else:
        rest = ((1 - price) / (len(outcomes) - 1) / tick_size).to_integral_value(rounding=ROUND_DOWN) * tick_size
        mids = [price] + [max(Decimal("0.02"), rest)] * (len(outcomes) - 1)
    step = engine.maker_step(now)
    with transaction.atomic(using=DB):
        market = Market.objects.create(
            exchange=exchange, exchange_market_id=native, parsec_id=f"{exchange}:{native}", order_market_id=order_id,
            condition_id=order_id if exchange == "polymarket" else None, exchange_group_id=group,
            parsec_group_id=f"{exchange}:{group}", event_id=f"ev:{event_key or native.lower()}", question=question,
            group_title=question, description=f"Sandbox market: {question}", slug=f"sandbox-{native.lower()}", market_type=kind,
            tick_size=tick_size, min_order_size=min_order_size, end_date=end_date, makers_walk=makers_walk,
            created_at=now, updated_at=now,
        )
        Outcome.objects.bulk_create([
            Outcome(market=market, index=index, name=name, mid=mid, anchor_mid=mid, anchor_step=step,
                    token_id=str(10**75 + secrets.randbelow(10**75)) if exchange == "polymarket" else None)
            for index, (name, mid) in enumerate(zip(outcomes, mids, strict=True))
        ])
    engine.move_makers(now=now)
    return market
