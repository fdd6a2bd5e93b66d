"""Rate limits (NOTES §3.4, §4.7, §12.8): token buckets in memory, monthly counters in the database.

The sandbox is one process, so the buckets live in a dict under one lock (a few microseconds a
request). ``check(ctx)`` is called by the dispatcher for every /api/v1 request:

- a call with the key's own identity spends from the key's bucket, sized by its API tier
  (free 10/s burst 10, pro 60/120, scale 200/400); builder keys use SANDBOX_BUILDER_KEY_TIER;
- an impersonated call (builder key + X-Builder-Customer-Id) spends from the end-user's bucket
  (``qps_limit``/s, burst ``qps_limit``) and from the builder's pool (``qps_pool``/s, burst
  ``qps_pool``), both or neither;
- every call counts against the key owner's month (UTC); capped tiers answer 429
  ``monthly_limit_exceeded`` (not retryable) past the cap.

A refusal is 429 ``rate_limit_exceeded`` with ``Retry-After`` (whole seconds until a token),
``tier`` and ``limit_qps``. Successful calls get ``x-ratelimit-*`` headers and ``x-parsec-tier``.

Settings: SANDBOX_RATE_LIMITS_ENABLED (default true; the control plane's ``POST /_sandbox/limits``
overrides it, persisted) and SANDBOX_BUILDER_KEY_TIER (default "scale").
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime

import environ
from django.db.models import F

from sandbox import clock
from sandbox.errors import ParsecAPIError

env = environ.Env()
DEFAULT_ENABLED = env.bool("SANDBOX_RATE_LIMITS_ENABLED", default=True)
BUILDER_KEY_TIER = env.str("SANDBOX_BUILDER_KEY_TIER", default="scale")
ENABLED_KEY = "rate_limits_enabled"
FLUSH_SECONDS = 1.0

# tier: (sustained req/s, burst, monthly requests; 0 = unlimited)
TIERS = {"free": (10, 10, 50_000), "pro": (60, 120, 5_000_000), "scale": (200, 400, 0)}


class Bucket:
    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate, self.capacity, self.tokens, self.updated = rate, capacity, capacity, now

    def refill(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = min(capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def wait(self) -> int:
        """Whole seconds until one token is back (at least 1)."""
        return max(1, math.ceil((1 - self.tokens) / self.rate)) if self.rate > 0 else 60


_lock = threading.Lock()
_buckets: dict[tuple, Bucket] = {}
_enabled: bool | None = None
_counts: dict[tuple[int, str], int] = {}
_flushed: dict[tuple[int, str], int] = {}
_flush_lock = threading.Lock()
_last_flush = 0.0


def enabled() -> bool:
    global _enabled
    if _enabled is None:
        from sandbox.models import SandboxState

        row = SandboxState.objects.filter(key=ENABLED_KEY).first()
        _enabled = bool(row.value) if row else DEFAULT_ENABLED
    return _enabled


def set_enabled(value: bool) -> None:
    global _enabled
    from sandbox.models import SandboxState

    SandboxState.objects.update_or_create(key=ENABLED_KEY, defaults={"value": bool(value)})
    _enabled = bool(value)


def reset() -> None:
    """Refill every bucket (forget them) and re-read the switch; monthly counters are kept."""
    global _enabled
    with _lock:
        _buckets.clear()
    _enabled = None


def key_tier(caller) -> str:
    tier = BUILDER_KEY_TIER if caller.is_builder else caller.tier
    return tier if tier in TIERS else "free"


def _take(now: float, *wanted: tuple[tuple, float, float]) -> tuple[int | None, list[Bucket]]:
    """Take one token from each bucket, or from none. Returns (index of the empty bucket or None, buckets)."""
    with _lock:
        buckets = []
        for key, rate, capacity in wanted:
            bucket = _buckets.get(key)
            if bucket is None:
                bucket = _buckets[key] = Bucket(rate, capacity, now)
            else:
                bucket.refill(rate, capacity, now)
            buckets.append(bucket)
        for index, bucket in enumerate(buckets):
            if bucket.tokens < 1:
                return index, buckets
        for bucket in buckets:
            bucket.tokens -= 1
        return None, buckets


def _too_many(bucket: Bucket, tier: str, limit_qps: int, what: str) -> ParsecAPIError:
    return ParsecAPIError(429, "rate_limit_exceeded", f"rate limit exceeded ({what})",
                          headers={"Retry-After": str(bucket.wait())}, extra={"tier": tier, "limit_qps": limit_qps})


def _month(now: datetime) -> tuple[str, int]:
    start_next = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=now.tzinfo)
    return f"{now.year:04d}-{now.month:02d}", int(start_next.timestamp())


def _count(customer_pk: int, month: str) -> int:
    """Count one request; returns the month's total before it."""
    key = (customer_pk, month)
    with _lock:
        known = key in _counts
    if not known:
        from sandbox.models import MonthlyUsage

        row = MonthlyUsage.objects.filter(customer_id=customer_pk, month=month).first()
        with _lock:
            if key not in _counts:
                _counts[key] = _flushed[key] = row.requests if row else 0
    with _lock:
        before = _counts[key]
        _counts[key] = before + 1
    return before


def flush(force: bool = False) -> None:
    """Write the counters' growth to the database (about once a second, by whoever gets the lock)."""
    global _last_flush
    if not force and time.monotonic() - _last_flush < FLUSH_SECONDS:
        return
    if not _flush_lock.acquire(blocking=False):
        return
    try:
        _last_flush = time.monotonic()
        with _lock:
            growth = {key: total - _flushed.get(key, 0) for key, total in _counts.items() if total != _flushed.get(key, 0)}
            _flushed.update({key: _counts[key] for key in growth})
        from sandbox.models import MonthlyUsage

        for (customer_pk, month), delta in growth.items():
            if not MonthlyUsage.objects.filter(customer_id=customer_pk, month=month).update(requests=F("requests") + delta):
                MonthlyUsage.objects.create(customer_id=customer_pk, month=month, requests=delta)
    finally:
        _flush_lock.release()


def monthly_requests(customer, now: datetime) -> int:
    month, _ = _month(now)
    with _lock:
        if (customer.pk, month) in _counts:
            return _counts[(customer.pk, month)]
    from sandbox.models import MonthlyUsage

    row = MonthlyUsage.objects.filter(customer_id=customer.pk, month=month).first()
    return row.requests if row else 0


def check(ctx) -> dict[str, str]:
    caller = ctx.caller
    tier = key_tier(caller)
    rate, burst, monthly_cap = TIERS[tier]
    month, reset_at = _month(clock.now())
    used = _count(caller.pk, month)
    flush()
    headers = {"x-parsec-tier": tier, "x-ratelimit-monthly-limit": str(monthly_cap), "x-ratelimit-monthly-reset": str(reset_at)}
    if monthly_cap:
        headers["x-ratelimit-monthly-remaining"] = str(max(0, monthly_cap - used - 1))
    if not enabled():
        return headers
    if monthly_cap and used >= monthly_cap:
        raise ParsecAPIError(429, "monthly_limit_exceeded", "monthly request limit exceeded", extra={"tier": tier})
    now = time.monotonic()
    if ctx.impersonated:
        customer, builder = ctx.customer, ctx.builder
        user_qps, pool_qps = max(1, customer.qps_limit), max(1, builder.qps_pool)
        empty, (user, pool) = _take(now, (("user", customer.pk), user_qps, user_qps), (("pool", builder.pk), pool_qps, pool_qps))
        if empty == 0:
            raise _too_many(user, customer.tier, user_qps, "end-user qps_limit")
        if empty == 1:
            raise _too_many(pool, builder.tier, pool_qps, "builder QPS pool")
        headers.update({
            "x-ratelimit-user-limit": str(user_qps), "x-ratelimit-user-remaining": str(int(user.tokens)),
            "x-ratelimit-pool-limit": str(pool_qps), "x-ratelimit-pool-remaining": str(int(pool.tokens)),
        })
        return headers
    empty, (bucket,) = _take(now, (("key", caller.pk), rate, burst))
    if empty is not None:
        raise _too_many(bucket, tier, rate, f"{tier} tier")
    return headers
