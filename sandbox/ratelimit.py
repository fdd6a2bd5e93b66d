"""Rate limits — OWNED BY THE ESCROW/CONTROL ENGINEER; this is a placeholder body they replace.

``check(ctx) -> dict`` is called by sandbox.http for every /api/v1 request after auth and
impersonation; it returns headers to add to the response (x-ratelimit-*) or raises
ParsecAPIError(429, "rate_limit_exceeded", ..., headers={"Retry-After": ...}).
"""

from __future__ import annotations


def check(ctx) -> dict:
    return {}
