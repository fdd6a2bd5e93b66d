"""Fault injection (NOTES §12.8): rules kept in the database, set through ``/_sandbox/faults``.

A rule (``FaultRule``) has a kind, an optional scope (endpoint name such as ``orders.create`` or a
prefix such as ``orders.*``, exchange, acting customer id; blank = any), a ``probability`` and an
optional ``remaining`` count, and an optional ``seed`` that makes its draws a deterministic
sequence. Rules survive a restart (they are rows); the process keeps them cached and the control
plane refreshes the cache on every change.

The dispatcher calls ``apply(ctx, "before")`` after auth and rate limits, and
``apply(ctx, "after")`` once the view has done (and committed) its work:

before: ``latency`` (sleep ``latency_ms``, then serve), ``error_503`` (503 service_unavailable),
        ``error_500`` (500 internal_error), ``rate_limit`` (429 with Retry-After; a rule with a
        count is a 429 burst), ``reset`` (close the connection without a response; nothing done);
after:  ``drop`` (the order exists, the client sees the connection closed without a response),
        ``timeout`` (the same after sleeping ``latency_ms``, long enough for the client to time
        out), ``submission_failure`` (orders.create: the order was accepted, then the exchange
        rejects it: status ``rejected``, reservations released, any escrow fee refunded).

Dropping happens in ``DropMiddleware`` (sandbox.wsgi wraps the WSGI application with it): the
view marks the request, the middleware throws the finished response away and raises
``ResponseDropped``, and the server (sandbox.server) closes the socket without writing a byte.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from sandbox import clock, serial
from sandbox.errors import ParsecAPIError
from sandbox.models import FaultRule, Order

logger = logging.getLogger("sandbox.faults")

BEFORE = {FaultRule.Kind.LATENCY, FaultRule.Kind.ERROR_503, FaultRule.Kind.ERROR_500, FaultRule.Kind.RATE_LIMIT, FaultRule.Kind.RESET}
AFTER = {FaultRule.Kind.DROP, FaultRule.Kind.TIMEOUT, FaultRule.Kind.SUBMISSION_FAILURE}
DB = "sandbox"


class DropResponse(Exception):
    """Kept for the dispatcher's interface; dropping is signalled through ``_local`` instead."""


class ResponseDropped(Exception):
    """Raised by ``DropMiddleware``: the server closes the connection without a response."""


_local = threading.local()
_cache_lock = threading.Lock()
_rules: list[FaultRule] | None = None
_rngs: dict[int, random.Random] = {}


def reload(*, reseed: bool = False) -> None:
    """Forget the cached rules (after any change through the control plane); ``reseed`` restarts
    the seeded draw sequences (a seeded rule draws the same sequence from its creation on)."""
    global _rules
    with _cache_lock:
        _rules = None
        if reseed:
            _rngs.clear()


def active_rules() -> list[FaultRule]:
    global _rules
    rules = _rules
    if rules is None:
        rules = list(FaultRule.objects.exclude(remaining=0).order_by("pk"))
        with _cache_lock:
            _rules = rules
            for rule in rules:
                if rule.seed is not None and rule.pk not in _rngs:
                    _rngs[rule.pk] = random.Random(rule.seed)
    return rules


def _in_scope(rule: FaultRule, ctx) -> bool:
    if rule.endpoint:
        if rule.endpoint.endswith("*"):
            if not ctx.endpoint.startswith(rule.endpoint[:-1]):
                return False
        elif ctx.endpoint != rule.endpoint:
            return False
    if rule.exchange and (ctx.exchange or "").strip().lower() != rule.exchange:
        return False
    return not (rule.customer_id and str(ctx.customer.customer_id) != rule.customer_id)


def _fires(rule: FaultRule) -> bool:
    rng = _rngs.get(rule.pk)
    with _cache_lock:
        draw = rng.random() if rng is not None else random.random()
    if draw >= float(rule.probability):
        return False
    if rule.remaining is None:
        FaultRule.objects.filter(pk=rule.pk).update(fired=F("fired") + 1)
        return True
    won = FaultRule.objects.filter(pk=rule.pk, remaining__gt=0).update(remaining=F("remaining") - 1, fired=F("fired") + 1)
    if won and rule.remaining is not None:
        rule.remaining -= 1
        if rule.remaining <= 0:
            reload()
    return bool(won)


def apply(ctx, phase: str) -> None:
    rules = active_rules()
    if not rules:
        return
    kinds = BEFORE if phase == "before" else AFTER
    for rule in rules:
        if rule.kind not in kinds or not _in_scope(rule, ctx) or not _fires(rule):
            continue
        logger.info("fault %s fired on %s", rule.kind, ctx.endpoint)
        kind = rule.kind
        if kind == FaultRule.Kind.LATENCY:
            with serial.waiting():  # other requests go on meanwhile
                time.sleep(rule.latency_ms / 1000)
        elif kind == FaultRule.Kind.ERROR_503:
            raise ParsecAPIError(503, "service_unavailable", "service temporarily unavailable (injected fault)")
        elif kind == FaultRule.Kind.ERROR_500:
            raise ParsecAPIError(500, "internal_error", "internal error (injected fault)")
        elif kind == FaultRule.Kind.RATE_LIMIT:
            raise ParsecAPIError(429, "rate_limit_exceeded", "rate limit exceeded (injected fault)",
                                 headers={"Retry-After": str(rule.retry_after)}, extra={"tier": ctx.customer.tier, "limit_qps": ctx.customer.qps_limit})
        elif kind == FaultRule.Kind.RESET:
            _local.drop_after_ms = 0
            raise ParsecAPIError(503, "service_unavailable", "connection reset (injected fault)")
        elif kind in (FaultRule.Kind.DROP, FaultRule.Kind.TIMEOUT):
            _local.drop_after_ms = rule.latency_ms if kind == FaultRule.Kind.TIMEOUT else 0
        elif kind == FaultRule.Kind.SUBMISSION_FAILURE and ctx.endpoint == "orders.create":
            _reject_latest(ctx)


def _reject_latest(ctx) -> None:
    """The exchange refused the order Parsec just accepted: it ends ``rejected`` (escrow refunds)."""
    from sandbox import engine

    latest = Order.objects.filter(customer=ctx.customer).order_by("-pk").values_list("pk", "outcome_id").first()
    if latest is None:
        return
    now = clock.now()
    with engine.book_lock(latest[1]), transaction.atomic(using=DB):
        order = Order.objects.select_related("market", "outcome").get(pk=latest[0])
        if order.status in Order.LIVE:
            engine._finish(order, Order.Status.REJECTED, now)  # the engine's one way to end an order


class DropMiddleware:
    """WSGI wrapper: when a fault marked the request, discard the response and close the socket."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        _local.drop_after_ms = None
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["args"] = (status, headers, exc_info)
            return lambda data: None

        result = self.app(environ, capture)
        drop_after_ms = _local.drop_after_ms
        _local.drop_after_ms = None
        if drop_after_ms is None:
            start_response(*captured["args"])
            return result
        if hasattr(result, "close"):
            result.close()
        if drop_after_ms:
            with serial.waiting():
                time.sleep(drop_after_ms / 1000)
        raise ResponseDropped("response dropped by an injected fault")


def render(rule: FaultRule) -> dict:
    return {
        "id": rule.pk, "kind": rule.kind, "endpoint": rule.endpoint or None, "exchange": rule.exchange or None,
        "customer_id": rule.customer_id or None, "probability": str(Decimal(rule.probability).normalize()),
        "remaining": rule.remaining, "latency_ms": rule.latency_ms, "retry_after": rule.retry_after,
        "seed": rule.seed, "fired": rule.fired, "created_at": rule.created_at.isoformat().replace("+00:00", "Z"),
    }
