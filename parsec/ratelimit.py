"""One QPS budget shared by every process that calls Parsec.

Parsec limits impersonated calls twice: by the builder's pool (``qps_pool``, 500 by
default) and by each end-user's ``qps_limit``. Each limit is a token bucket here, shared
through Redis (a Lua script, production shape) or through the database (a row per bucket
updated under a row lock, embedded shape). A caller *reserves* its token: the bucket may go
negative and the caller sleeps off the debt, so each call costs one round trip and
waiters are served in order (GCRA). A 429 from Parsec blocks every process for its
``Retry-After`` (``penalize``).

Rates are the limits times ``PARSEC_POOL_HEADROOM`` (0.95) so that clock skew and calls
made outside the back-office do not tip us over Parsec's own buckets; bursts are
``PARSEC_RATE_BURST_SECONDS`` worth of tokens, smaller than Parsec's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

from django.conf import settings
from django.db import connections
from django.db.models import F, Value
from django.db.models.functions import Greatest

from .models import RateBucket

CustomerQpsSource = Callable[[str], int | None]

_customer_qps_source: CustomerQpsSource | None = None


def set_customer_qps_source(source: CustomerQpsSource | None) -> None:
    """Let the customers app say each customer's ``qps_limit`` (None: use the default).

    Called at most once per customer every ``QPS_CACHE_SECONDS`` per process.
    """
    global _customer_qps_source
    _customer_qps_source = source
    _qps_cache.clear()


QPS_CACHE_SECONDS = 30.0
_qps_cache: dict[str, tuple[float, float]] = {}


def customer_qps(customer_id: str) -> float:
    cached = _qps_cache.get(customer_id)
    now = time.monotonic()
    if cached and cached[1] > now:
        return cached[0]
    value = None
    if _customer_qps_source is not None:
        value = _customer_qps_source(customer_id)
    qps = float(value) if value else float(getattr(settings, "PARSEC_DEFAULT_CUSTOMER_QPS", 10))
    _qps_cache[customer_id] = (qps, now + QPS_CACHE_SECONDS)
    return qps


class RateLimiter(Protocol):
    def acquire(self, customer_id: str | None) -> float:
        """Block until the pool (and the customer, if given) allow one call; return seconds waited."""

    def penalize(self, seconds: float) -> None:
        """Parsec said 429: nobody calls for ``seconds``."""


class NullLimiter:
    def acquire(self, customer_id: str | None) -> float:
        return 0.0

    def penalize(self, seconds: float) -> None:
        return None


class _Budget:
    def __init__(self, *, namespace: str, pool_qps: float, headroom: float, burst_seconds: float):
        self.namespace = namespace
        self.pool_rate = max(0.1, pool_qps * headroom)
        self.headroom = headroom
        self.burst_seconds = burst_seconds

    def capacity(self, rate: float) -> float:
        return max(1.0, rate * self.burst_seconds)

    def customer_rate(self, customer_id: str) -> float:
        return max(0.1, customer_qps(customer_id) * self.headroom)

    def pool_key(self) -> str:
        return f"{self.namespace}:pool"

    def customer_key(self, customer_id: str) -> str:
        return f"{self.namespace}:customer:{customer_id}"


class DatabaseRateLimiter(_Budget):
    """Buckets as ``RateBucket`` rows, each refilled and debited by one UPDATE ... RETURNING
    (atomic on its own row in PostgreSQL and SQLite alike)."""

    def __init__(self, *, using: str = "default", **kwargs):
        super().__init__(**kwargs)
        self.using = using
        self._known: set[str] = set()

    def _ensure(self, buckets: dict[str, float]) -> None:
        missing = [key for key in buckets if key not in self._known]
        if missing:
            now = time.time()
            RateBucket.objects.using(self.using).bulk_create(
                [RateBucket(key=key, tokens=self.capacity(buckets[key]), updated_at=now) for key in missing], ignore_conflicts=True
            )
            self._known.update(missing)

    def acquire(self, customer_id: str | None) -> float:
        buckets = {self.pool_key(): self.pool_rate}
        if customer_id:
            buckets[self.customer_key(customer_id)] = self.customer_rate(customer_id)
        self._ensure(buckets)
        now = time.time()
        debt_wait = 0.0
        blocked_wait = 0.0
        taken = self._take(buckets, now)
        for key, (tokens, blocked_until) in taken.items():
            if tokens < 0:
                debt_wait = max(debt_wait, -tokens / buckets[key])
            blocked_wait = max(blocked_wait, blocked_until - now)
        if len(taken) < len(buckets):  # a row vanished (table flushed): recreate next time
            self._known.clear()
        wait = debt_wait + max(0.0, blocked_wait)
        if wait > 0:
            time.sleep(wait)
        return wait

    def _take(self, buckets: dict[str, float], now: float) -> dict[str, tuple[float, float]]:
        """Refill each bucket, take one token and read (tokens, blocked_until) back: no transaction
        is held across round trips. key → values; a bucket whose row is gone is missing."""
        connection = connections[self.using]
        keys = sorted(buckets)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Every bucket in one statement, its rows locked in key order (no deadlock between
                # two callers sharing a pool and a customer).
                values = ", ".join(["(%s, %s::float8, %s::float8)"] * len(keys))
                params = [v for key in keys for v in (key, buckets[key], self.capacity(buckets[key]))]
                cursor.execute(_TAKE_ALL_SQL.format(values=values), [*params, now, now])
                return {key: (tokens, blocked_until) for key, tokens, blocked_until in cursor.fetchall()}
            taken = {}
            for key in keys:  # SQLite: one statement per bucket
                rate = buckets[key]
                cursor.execute(_TAKE_SQL, [self.capacity(rate), now, rate, now, key])
                rows = cursor.fetchall()  # to the end: SQLite ends the statement (and its write lock) there
                if rows:
                    taken[key] = rows[0]
            return taken

    def penalize(self, seconds: float) -> None:
        until = time.time() + max(0.0, seconds)
        self._ensure({self.pool_key(): self.pool_rate})
        RateBucket.objects.using(self.using).filter(key=self.pool_key()).update(blocked_until=Greatest(F("blocked_until"), Value(until)))


_BUCKETS = RateBucket._meta.db_table
# SQLite: scalar MIN/MAX are its LEAST/GREATEST.
_TAKE_SQL = (
    f"UPDATE {_BUCKETS} SET tokens = MIN(%s, tokens + MAX(0, %s - updated_at) * %s) - 1, updated_at = MAX(%s, updated_at) "  # noqa: S608 (a model's table)
    "WHERE \"key\" = %s RETURNING tokens, blocked_until"
)
# PostgreSQL: one statement for every bucket of a call, committed without waiting for its WAL
# flush (synchronous_commit off for that statement's own transaction only). A bucket is a pacing
# estimate: a crash that forgets its last fraction of a second of debits costs nothing, while the
# flush cost ~3.5 ms per commit, two commits per call (bench/sync_second.py with the database
# limiter: about half of a second sync's time). Other processes see the debit at once either way.
_TAKE_ALL_SQL = (
    "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)), "  # noqa: S608 (a model's table)
    "wanted (key, rate, capacity) AS (VALUES {values}), "
    f"locked AS MATERIALIZED (SELECT b.\"key\" FROM {_BUCKETS} b JOIN wanted w ON w.key = b.\"key\" ORDER BY b.\"key\" FOR UPDATE OF b) "
    f"UPDATE {_BUCKETS} AS b SET tokens = LEAST(w.capacity, b.tokens + GREATEST(0, %s - b.updated_at) * w.rate) - 1, "
    "updated_at = GREATEST(%s, b.updated_at) FROM wanted w, locked l, unflushed "
    "WHERE b.\"key\" = w.key AND l.\"key\" = b.\"key\" RETURNING b.\"key\", b.tokens, b.blocked_until"
)

_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function take(key, rate, cap)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil then tokens = cap; ts = now end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(cap, tokens + elapsed * rate) - 1
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
  local ttl = 60
  if tokens < 0 then ttl = ttl - tokens / rate end
  redis.call('EXPIRE', key, math.ceil(ttl))
  if tokens < 0 then return -tokens / rate end
  return 0
end
local wait = take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if #KEYS >= 3 then
  wait = math.max(wait, take(KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4])))
end
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then wait = wait + (blocked - now) end
return tostring(wait)
"""

_PENALIZE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untill = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untill > current then
  redis.call('SET', KEYS[1], tostring(untill), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return tostring(untill)
"""


class RedisRateLimiter(_Budget):
    """Buckets as Redis hashes updated by one Lua script (atomic; Redis's clock, not ours)."""

    def __init__(self, *, url: str, **kwargs):
        super().__init__(**kwargs)
        import redis

        self.redis = redis.Redis.from_url(url)
        self._acquire = self.redis.register_script(_ACQUIRE_LUA)
        self._penalize = self.redis.register_script(_PENALIZE_LUA)

    def acquire(self, customer_id: str | None) -> float:
        keys = [self.pool_key(), f"{self.namespace}:blocked"]
        args: list[float] = [self.pool_rate, self.capacity(self.pool_rate)]
        if customer_id:
            rate = self.customer_rate(customer_id)
            keys.append(self.customer_key(customer_id))
            args += [rate, self.capacity(rate)]
        wait = float(self._acquire(keys=keys, args=args))
        if wait > 0:
            time.sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        self._penalize(keys=[f"{self.namespace}:blocked"], args=[max(0.0, seconds)])


_limiters: dict[tuple, RateLimiter] = {}
_limiters_lock = threading.Lock()


def get_limiter() -> RateLimiter:
    """The limiter for the current settings (shared state lives in Redis or the database)."""
    key = (
        getattr(settings, "PARSEC_RATE_LIMIT_ENABLED", True),
        getattr(settings, "RATE_LIMIT_REDIS_URL", ""),
        float(getattr(settings, "PARSEC_POOL_QPS", 500)),
        float(getattr(settings, "PARSEC_POOL_HEADROOM", 0.95)),
        float(getattr(settings, "PARSEC_RATE_BURST_SECONDS", 0.2)),
        settings.PARSEC_API_BASE_URL,
        settings.PARSEC_API_KEY,
    )
    limiter = _limiters.get(key)
    if limiter is None:
        with _limiters_lock:
            limiter = _limiters.get(key)
            if limiter is None:
                limiter = build_limiter(
                    enabled=key[0], redis_url=key[1], pool_qps=key[2], headroom=key[3], burst_seconds=key[4], base_url=key[5], api_key=key[6]
                )
                _limiters[key] = limiter
    return limiter


def build_limiter(*, enabled: bool, redis_url: str, pool_qps: float, headroom: float, burst_seconds: float, base_url: str, api_key: str) -> RateLimiter:
    if not enabled:
        return NullLimiter()
    # One budget per builder key and Parsec instance; the key itself never leaves this hash.
    namespace = "parsec-rl:" + hashlib.sha256(f"{base_url}|{api_key}".encode()).hexdigest()[:16]
    common = {"namespace": namespace, "pool_qps": pool_qps, "headroom": headroom, "burst_seconds": burst_seconds}
    if redis_url:
        return RedisRateLimiter(url=redis_url, **common)
    return DatabaseRateLimiter(**common)
