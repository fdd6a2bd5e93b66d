"""What the orders app hears from the rest of the product, without those paths knowing of it.

- An order's audit row (placed, cancelled, reconciled, withdrawn) and a customer's sync: the fee
  records they move are read again on the chain after a few blocks (orders.escrow_events.follow_up),
  so a record shows the outcome within seconds, not at the next sweep.
- A Celery worker starting: the escrow chain is verified first (chain id, code at the address,
  the ABI answering), and a worker configured for another chain or contract refuses to start.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

ORDER_ACTIONS = ("order.place", "order.cancel", "order.cancel.killswitch", "order.reconcile", "order.withdraw")


def order_action_audited(sender, instance, created, raw=False, **kwargs) -> None:
    if not created or raw or instance.action not in ORDER_ACTIONS:
        return
    from orders.escrow_events import follow_up_order_action

    try:
        follow_up_order_action(action=instance.action, request=instance.request or {})
    except Exception:  # never let a hint break the action that was audited
        logger.warning("escrow follow-up after %s not scheduled", instance.action, exc_info=True)


def customer_synced(sender, customer_id, **kwargs) -> None:
    from orders.escrow_events import follow_up_customer

    try:
        follow_up_customer(customer_id)
    except Exception:
        logger.warning("escrow follow-up after the sync of customer %s not scheduled", customer_id, exc_info=True)


def verify_escrow_chain_at_start(**kwargs) -> None:
    """Celery's worker_init: a misconfigured escrow chain stops the worker with the reason (Celery
    only logs an exception from a signal handler, so this exits); an unreachable one is logged
    (the follower retries and the pages say so)."""
    from parsec.errors import ChainError, ChainMisconfigured
    from parsec.escrow_chain import escrow_reader

    try:
        escrow_reader()
    except ChainMisconfigured as error:
        message = f"The worker does not start: the escrow chain is misconfigured. {error}"
        logger.critical(message)
        raise SystemExit(message) from None
    except ChainError as error:
        logger.warning("the escrow chain could not be reached at start (the follower will retry): %s", error)


def connect() -> None:
    from celery.signals import worker_init
    from django.db.models.signals import post_save

    from audit.models import AuditEvent
    from customers.signals import customer_synced as synced

    post_save.connect(order_action_audited, sender=AuditEvent, dispatch_uid="orders.escrow_follow_up_after_order_action")
    synced.connect(customer_synced, dispatch_uid="orders.escrow_follow_up_after_sync")
    worker_init.connect(verify_escrow_chain_at_start, dispatch_uid="orders.verify_escrow_chain_at_start", weak=False)
