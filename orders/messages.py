"""Where an order intent stands, in one sentence (the result page, the API's message).

Parsec's refusals and failures are explained by the gateway (``parsec.errors.explain``).
"""

from __future__ import annotations


def intent_status_message(intent) -> str:
    """One sentence for where an intent stands (the result page, the API's message)."""
    from orders.models import OrderIntent

    status = intent.status
    if status == OrderIntent.Status.PLACED:
        return f"Placed at Parsec as order {intent.parsec_order_id}."
    if status == OrderIntent.Status.REJECTED:
        return f"Rejected: {intent.error_message}"
    if status == OrderIntent.Status.NOT_PLACED:
        return f"Not placed: {intent.error_message or intent.reconcile_note}"
    if status == OrderIntent.Status.UNKNOWN:
        return ("Parsec's answer was lost, so we do not know yet whether the order was placed. It is being "
                f"reconciled automatically ({intent.error_message})")
    if status == OrderIntent.Status.SENDING:
        return "Being sent to Parsec right now."
    if status == OrderIntent.Status.NEEDS_REVIEW:
        return f"Needs review by a person: {intent.reconcile_note}"
    if status == OrderIntent.Status.AWAITING_APPROVAL:
        return "Waiting for a second Operations user's approval."
    if status == OrderIntent.Status.WITHDRAWN:
        return f"Withdrawn before sending. {intent.error_message}".strip()
    return "Ready to send."


def already_handled(intent) -> str:
    return "This order was already submitted (no second order was sent). " + intent_status_message(intent)
