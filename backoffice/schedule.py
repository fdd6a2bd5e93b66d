"""The whole beat schedule. Every interval is a setting (seconds)."""

from django.conf import settings


def beat_schedule() -> dict:
    schedule: dict = {}
    for name, task, setting, default in SCHEDULE:
        seconds = getattr(settings, setting, default)
        if seconds:
            schedule[name] = {"task": task, "schedule": float(seconds)}
    return schedule


# (entry name, task path, setting holding the interval in seconds, default)
SCHEDULE: list[tuple[str, str, str, int]] = [
    ("scheduler-heartbeat", "backoffice.tasks.scheduler_heartbeat", "SCHEDULER_HEARTBEAT_INTERVAL", 15),
    ("audit-checkpoint", "audit.tasks.write_audit_checkpoint", "AUDIT_CHECKPOINT_INTERVAL", 300),
    ("prune-parsec-call-log", "parsec.tasks.prune_call_log", "PARSEC_CALL_LOG_PRUNE_INTERVAL", 3600),
    ("prune-idempotency-keys", "api.tasks.prune_idempotency_records", "API_IDEMPOTENCY_PRUNE_INTERVAL", 3600),
    ("sweep-order-intents", "orders.tasks.sweep_order_intents", "ORDER_INTENT_SWEEP_INTERVAL", 20),
    ("expire-approval-requests", "approvals.tasks.expire_approval_requests", "APPROVAL_EXPIRY_INTERVAL", 30),
    ("sync-customers-fan-out", "sync.tasks.schedule_customer_syncs", "SYNC_SCHEDULE_INTERVAL", 15),
    ("sync-users", "sync.tasks.sync_users", "SYNC_USERS_INTERVAL", 600),
    ("sync-markets", "sync.tasks.sync_markets", "SYNC_MARKETS_INTERVAL", 900),
    ("surveillance", "compliance.tasks.run_surveillance", "SURVEILLANCE_INTERVAL", 300),
    ("check-fee-escrow", "orders.tasks.check_fee_escrow", "ESCROW_CHECK_INTERVAL", 60),
    ("follow-escrow-chain", "orders.tasks.follow_escrow_chain", "ESCROW_FOLLOW_INTERVAL", 4),
]
