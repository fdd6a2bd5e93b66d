"""Fault injection — OWNED BY THE ESCROW/CONTROL ENGINEER; this is a placeholder body they replace.

``apply(ctx, phase)`` is called by sandbox.http with phase "before" (after auth, before the view:
add latency, raise ParsecAPIError 503/429) and phase "after" (after the view has committed its
work: may raise sandbox.faults.DropResponse to accept-then-drop, which the server turns into a
closed connection).
"""

from __future__ import annotations


class DropResponse(Exception):
    """Raised in phase "after" to drop the connection although the work was done."""


def apply(ctx, phase: str) -> None:
    return None
