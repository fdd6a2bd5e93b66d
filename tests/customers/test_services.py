"""customers.services: the one door for starting a customer sync."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from sync.models import SyncRun
from sync.services import sync_customer_now
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_requested_sync_is_audited_with_its_run_and_a_system_one_is_not(operator, django_capture_on_commit_callbacks):
    customer = f.customer(external_id="svc-sync")
    with django_capture_on_commit_callbacks() as enqueued:
        run = sync_customer_now(customer=customer, requested_by=operator, exchange="kalshi", reason="Sync now (test)")
    assert len(enqueued) == 1  # handed to a worker only once the run and its audit row are committed
    event = AuditEvent.objects.get(action="customer.sync")
    assert (event.actor, event.customer, event.reason, event.outcome) == (operator, customer, "Sync now (test)", "ok")
    assert event.request == {"sync_run": run.pk, "exchange": "kalshi"}
    assert run.requested_by == operator and run.trigger == SyncRun.Trigger.ON_DEMAND

    with django_capture_on_commit_callbacks():
        sync_customer_now(customer=customer, trigger=SyncRun.Trigger.COMMAND)
    assert AuditEvent.objects.filter(action="customer.sync").count() == 1
