"""Where an order intent stands, in one sentence (the result page, the API's message).

Parsec's refusals and failures are explained by the gateway (``parsec.errors.explain``).
"""

from __future__ import annotations


def _first_sentence(text: str) -> str:
    text = (text or "").strip()
    head, dot, _ = text.partition(". ")
    return (head + ".") if dot else text


def intent_state_label(intent) -> str:
    """The state's name as a person reads it: an intent above the four-eyes threshold that was
    never submitted is not "awaiting approval" (nobody was asked)."""
    from orders.models import OrderIntent

    if intent.status == OrderIntent.Status.AWAITING_APPROVAL and not intent.approval_id:
        return "Needs approval: not submitted yet"
    return intent.get_status_display()


def intent_status_message(intent) -> str:
    """One sentence for where an intent stands (the result page, the API's message)."""
    from orders.models import OrderIntent

    status = intent.status
    if status == OrderIntent.Status.PLACED:
        return f"Placed at Parsec as order {intent.parsec_order_id}."
    if status == OrderIntent.Status.REJECTED:
        return f"Rejected: {intent.error_message}"
    if status == OrderIntent.Status.NOT_PLACED:
        # Reconciliation's finding replaces the failure that made the outcome unknown at first
        # ("it may or may not have been placed"): the intent is settled now.
        why = intent.reconcile_note or intent.error_message or "Parsec has no such order."
        return f"Not placed: {why[:1].lower()}{why[1:]}"
    if status == OrderIntent.Status.UNKNOWN:
        cause = _first_sentence(intent.error_message) or "Parsec's answer was lost."
        return (f"{cause} Whether Parsec placed the order is not known yet: it is being reconciled automatically, "
                "and the outcome shows here when it is known.")
    if status == OrderIntent.Status.SENDING:
        return "Being sent to Parsec right now."
    if status == OrderIntent.Status.NEEDS_REVIEW:
        return f"Needs review by a person: {intent.reconcile_note}"
    if status == OrderIntent.Status.AWAITING_APPROVAL:
        if not intent.approval_id:
            return ("Above the four-eyes threshold and not submitted: nothing was sent. Submit it for approval "
                    "from the review page, or withdraw it.")
        return "Waiting for a second Operations user's approval."
    if status == OrderIntent.Status.WITHDRAWN:
        return f"Withdrawn before sending. {intent.error_message}".strip()
    return "Ready to send."


def already_handled(intent) -> str:
    return "This order was already submitted (no second order was sent). " + intent_status_message(intent)
