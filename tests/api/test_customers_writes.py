"""End-user actions through the API: the admin's services, audited under the token."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from sync.models import SyncRun
from tests.api.conftest import new_key

pytestmark = pytest.mark.django_db(transaction=True)



def test_sync_now_runs_the_admins_sync_and_is_audited(ops_api, sandbox_customer, eager_celery):
    response = ops_api.post(f"/api/customers/{sandbox_customer.pk}/sync/", {"exchange": "polymarket"}, format="json",
                            HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 202, response.json()
    run = SyncRun.objects.get(pk=response.json()["id"])
    assert run.kind == "customer-full" and run.requested_by == ops_api.token.service_user
    assert run.status == SyncRun.Status.SUCCEEDED
    polled = ops_api.get(f"/api/sync-runs/{run.pk}/").json()
    assert polled["status"] == "succeeded" and polled["progress_done"] == polled["progress_total"]
    event = AuditEvent.objects.filter(action="customer.sync").latest("seq")
    assert event.actor_name == ops_api.token.identity and event.customer_id == sandbox_customer.pk


def test_compliance_cannot_start_a_sync(compliance_api, trading_customer):
    response = compliance_api.post(f"/api/customers/{trading_customer.pk}/sync/", {}, format="json",
                                   HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 403
    assert not SyncRun.objects.exists()
