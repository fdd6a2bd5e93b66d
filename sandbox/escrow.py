"""Fee escrow — OWNED BY THE ESCROW/CONTROL ENGINEER; this is a placeholder body they replace.

Hook points the core calls (keep the signatures):
- ``check_and_pull(*, order, fee_auth, payer_address, signer_address, builder, now)``: inside the
  order-acceptance transaction; raise ParsecAPIError 400/402 to refuse the order.
- ``on_order_update(order, now)``: whenever an order fills or reaches a terminal state.
- ``monitor(now)``: from clock.tick, the 10-minute / 24-hour refund rules.
Until the real module lands, fee escrow is refused rather than faked.
"""

from __future__ import annotations

from sandbox.errors import bad_request


def check_and_pull(*, order, fee_auth: dict, payer_address, signer_address, builder, now) -> None:
    raise bad_request("fee escrow not available")


def on_order_update(order, now) -> None:
    return None


def monitor(now) -> None:
    return None
