"""Thin tasks for the orders app: ids in, a service call, idempotent.

The broker only carries hints: every trading task re-reads the intent and does nothing when it
has moved on, and the sweeper (``sweep_order_intents``, on the beat) redoes whatever a lost
message should have done.
"""

from __future__ import annotations

from celery import shared_task

# A redelivered placement is harmless (the claim is a conditional UPDATE) and a redelivered
# reconciliation is harmless (it only acts on ``unknown`` intents), so acks_late is safe.
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(**TASK_OPTIONS, time_limit=120, soft_time_limit=90)
def place_intent(intent_key: str) -> str:
    from orders import services
    from orders.models import OrderIntent

    intent = OrderIntent.objects.filter(key=intent_key).first()
    if intent is None or intent.status != OrderIntent.Status.NEW:
        return intent.status if intent else "missing"
    return services.submit_intent(intent=intent, actor=intent.created_by).intent.status


@shared_task(**TASK_OPTIONS, time_limit=120, soft_time_limit=90)
def reconcile_intent_task(intent_key: str) -> str:
    from orders import services
    from orders.models import OrderIntent

    intent = OrderIntent.objects.filter(key=intent_key).first()
    if intent is None:
        return "missing"
    return services.reconcile_intent(intent=intent).status


@shared_task(**TASK_OPTIONS, time_limit=300, soft_time_limit=270)
def sweep_order_intents() -> dict:
    from orders import services

    return services.sweep_order_intents()


@shared_task(**TASK_OPTIONS, time_limit=3600, soft_time_limit=3500)
def cancel_for_kill_switch(switch_id: int, actor_id: int | None) -> None:
    """The open orders under a builder-wide (or large) kill switch, cancelled one call each."""
    from django.contrib.auth import get_user_model

    from orders import services
    from orders.models import KillSwitch

    switch = KillSwitch.objects.select_related("customer").filter(pk=switch_id).first()
    if switch is None:
        return
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    services.cancel_for_switch(switch=switch, actor=actor)


@shared_task(ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240)
def check_fee_escrow() -> dict:
    """Re-derive open or flagged escrow records and compare them with the escrow."""
    from orders.escrow import check_open_records

    return check_open_records()


@shared_task(ignore_result=True, acks_late=True, time_limit=300, soft_time_limit=240)
def follow_escrow_chain() -> dict:
    """Ingest the escrow's events from the persisted cursor and re-check the records they touch."""
    from orders.escrow_events import follow_chain

    return follow_chain()


@shared_task(**TASK_OPTIONS, time_limit=120, soft_time_limit=90)
def follow_up_fee_record(record_id: int, attempt: int = 0) -> str:
    """Read one fee record again after its order's outcome (again later until the chain agrees)."""
    from orders.escrow_events import follow_up_record

    return follow_up_record(record_id, attempt)
