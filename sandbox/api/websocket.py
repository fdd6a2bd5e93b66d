"""``GET /api/v1/ws/usage`` (NOTES §6.7): the stream's usage, from its in-memory meter.

``scope=self`` (default) is the key's own usage; ``scope=global`` is for Parsec's admin keys, which
the sandbox has not: there, the control plane's ``X-Sandbox-Admin-Key`` header stands for one.
"""

from __future__ import annotations

import hmac

from sandbox import clock
from sandbox import usage as meter
from sandbox.errors import ParsecAPIError, bad_request


def usage(ctx):
    from sandbox import control

    scope = ctx.query.get("scope") or "self"
    if scope not in ("self", "global"):
        raise bad_request("scope must be self or global")
    raw = ctx.query.get("limit")
    if raw in (None, ""):
        limit = 20
    else:
        try:
            limit = min(max(int(raw), 1), 100)
        except ValueError:
            raise bad_request("limit must be an integer") from None
    if scope == "global":
        given = ctx.request.headers.get(control.ADMIN_HEADER, "")
        if not hmac.compare_digest(given.encode(), control.admin_key().encode()):
            raise ParsecAPIError(403, "unauthorized", "scope=global needs an admin key")
        report = meter.report(customer_id=None, limit=limit)
    else:
        report = meter.report(customer_id=str(ctx.caller.customer_id), limit=limit)
    return 200, {"scope": scope, "updated_at_ms": int(clock.now().timestamp() * 1000), **report}
