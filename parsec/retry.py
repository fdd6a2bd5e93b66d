"""Which calls may be repeated, and how long to wait between attempts.

Parsec has no idempotency key, so a repeated write can execute twice. The rules:

- ``READS``: safe reads (GET), plus the two builder writes Parsec makes idempotent itself
  (create user is keyed by ``external_id``, onboarding skips finished steps). Retried on
  429 (retryable), 503 and 502/504 pages, timeouts and connection errors, with capped
  exponential backoff and full jitter, never sooner than ``Retry-After``.
- ``CONNECT_ONLY``: cancel an order, update or deactivate a user. Retried only when the
  connection could not even be opened, i.e. nothing reached Parsec. A cancel that timed out
  is not repeated: the caller reads the order back instead (a second DELETE on a cancelled
  order is a 400, which would hide the first one's success).
- ``NEVER``: order creation. Not even on a refused connection: the caller (issue 5's
  placement) owns that decision, because it also owns the intent record and the fee
  authorisation's deadline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import ParsecConnectionError, ParsecError, ParsecTimeout, ParsecUnavailable, RateLimited

RETRYABLE_5XX = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    name: str
    reads: bool = False
    connect_only: bool = False

    def should_retry(self, exc: ParsecError, *, attempt: int, max_attempts: int, max_backoff: float) -> bool:
        if attempt >= max_attempts:
            return False
        if self.reads:
            if isinstance(exc, RateLimited):
                # A monthly quota (retryable false) or a wait longer than we may sleep: give up now.
                return exc.retryable and (exc.retry_after is None or exc.retry_after <= max_backoff)
            if isinstance(exc, ParsecUnavailable):
                return exc.status in RETRYABLE_5XX
            return isinstance(exc, ParsecTimeout | ParsecConnectionError)
        if self.connect_only:
            return isinstance(exc, ParsecConnectionError) and exc.request_sent is False
        return False


READS = RetryPolicy("reads", reads=True)
CONNECT_ONLY = RetryPolicy("connect_only", connect_only=True)
NEVER = RetryPolicy("never")


def backoff_delay(attempt: int, *, base: float, max_backoff: float, retry_after: float | None = None) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))), but at least Retry-After."""
    ceiling = min(max_backoff, base * (2 ** (attempt - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
