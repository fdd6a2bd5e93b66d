"""The sandbox's control plane (``/_sandbox/...``), for rehearsals: only when the product points at
the sandbox (PARSEC_SANDBOX_ADMIN_KEY is set). Real Parsec has no such endpoints.

Calls go through the gateway's one door (``ParsecClient._request``: timeouts, typed errors, the
call log) with the control plane's key added server-side; the key never reaches a page.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from .client import ParsecClient, get_client
from .retry import NEVER, READS

# Fault presets a rehearsal picks from (the sandbox's rule kinds, with a scope and a count).
FAULT_PRESETS: dict[str, dict] = {
    "accept_then_drop": {"label": "Accept then drop (the next order is placed, its answer lost)",
                         "rule": {"kind": "drop", "endpoint": "orders.create", "count": 1}},
    "storm_503": {"label": "503 storm (the next 20 calls answer 503)", "rule": {"kind": "error_503", "count": 20}},
    "burst_429": {"label": "429 burst (the next 5 calls are rate limited, retry after 1 s)",
                  "rule": {"kind": "rate_limit", "count": 5, "retry_after": 1}},
    "latency": {"label": "Latency (the next 20 calls take 2 s more)", "rule": {"kind": "latency", "count": 20, "latency_ms": 2000}},
}


def available() -> bool:
    """Whether the product points at a sandbox whose control plane it may drive."""
    return bool(getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", ""))


class SandboxControl:
    def __init__(self, client: ParsecClient | None = None):
        self.client = client or get_client()

    def _call(self, method: str, path: str, *, body: dict | None = None, path_params: dict | None = None):
        _, data = self.client._request(
            method, f"/_sandbox/{path}", path_params=path_params, body=body, prefix="",
            retry=READS if method == "GET" else NEVER, rate_limited=False,
            extra_headers={"X-Sandbox-Admin-Key": settings.PARSEC_SANDBOX_ADMIN_KEY},
        )
        return data

    # --- clock ----------------------------------------------------------------------------------
    def clock(self) -> dict:
        return self._call("GET", "clock")

    def advance_clock(self, *, seconds: int) -> dict:
        return self._call("POST", "clock/advance", body={"seconds": int(seconds)})

    # --- markets ----------------------------------------------------------------------------------
    def market_state(self, parsec_id: str) -> dict:
        return self._call("GET", "markets/{parsec_id}", path_params={"parsec_id": parsec_id})

    def move_market(self, parsec_id: str, *, price: Decimal, outcome: str | None = None) -> dict:
        body = {"price": str(price), **({"outcome": outcome} if outcome else {})}
        return self._call("POST", "markets/{parsec_id}/move", path_params={"parsec_id": parsec_id}, body=body)

    def close_market(self, parsec_id: str) -> dict:
        return self._call("POST", "markets/{parsec_id}/close", path_params={"parsec_id": parsec_id}, body={})

    def resolve_market(self, parsec_id: str, *, outcome: str) -> dict:
        return self._call("POST", "markets/{parsec_id}/resolve", path_params={"parsec_id": parsec_id}, body={"outcome": outcome})

    def void_market(self, parsec_id: str) -> dict:
        return self._call("POST", "markets/{parsec_id}/void", path_params={"parsec_id": parsec_id}, body={})

    # --- money ----------------------------------------------------------------------------------
    def credit(self, *, customer_id: str, exchange: str, amount_usdc: Decimal) -> dict:
        return self._call("POST", "credit", body={"customer_id": customer_id, "exchange": exchange, "amount_usdc": str(amount_usdc)})

    # --- faults ---------------------------------------------------------------------------------
    def faults(self) -> list[dict]:
        return self._call("GET", "faults").get("faults", [])

    def add_fault(self, preset: str, *, customer_id: str | None = None) -> dict:
        rule = dict(FAULT_PRESETS[preset]["rule"])
        if customer_id:
            rule["customer_id"] = customer_id
        return self._call("POST", "faults", body=rule)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")
