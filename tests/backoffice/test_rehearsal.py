"""The rehearsal page: only against the sandbox, only for Administrators and Operations, every
action audited, the control-plane key never in a page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from parsec.client import get_client

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/admin/rehearsal/"


def test_there_is_no_rehearsal_page_when_the_product_points_elsewhere(operator_client, settings):
    settings.PARSEC_SANDBOX_ADMIN_KEY = ""
    assert operator_client.get(URL).status_code == 404
    assert "Rehearsal" not in operator_client.get(reverse("admin:index")).content.decode()


def test_compliance_may_not_rehearse(reviewer_client, escrow_settings):
    assert reviewer_client.get(URL).status_code == 403
    assert reviewer_client.post(URL, {"action": "clear_faults"}).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="rehearsal.").exists()


def test_a_fault_preset_is_injected_listed_and_cleared_each_audited(operator_client, operator, sandbox, escrow_settings):
    sandbox.control("DELETE", "faults")
    response = operator_client.post(URL, {"action": "fault", "preset": "burst_429", "reason": "drill"})
    assert response.status_code == 302 and response["Location"] == URL
    (rule,) = sandbox.control("GET", "faults").json()["faults"]
    assert rule["kind"] == "rate_limit" and rule["remaining"] == 5
    page = operator_client.get(URL).content.decode()
    assert "rate_limit" in page and sandbox.admin_key not in page
    operator_client.post(URL, {"action": "clear_faults"})
    assert sandbox.control("GET", "faults").json()["faults"] == []
    assert list(AuditEvent.objects.filter(action__startswith="rehearsal.").order_by("seq").values_list("action", "outcome")) == [
        ("rehearsal.fault", "ok"), ("rehearsal.clear_faults", "ok")]


def test_crediting_a_customer_moves_their_balance_at_the_sandbox(operator_client, sandbox_customer, escrow_settings):
    before = get_client().get_balance(customer_id=str(sandbox_customer.parsec_customer_id), exchange="polymarket")
    operator_client.post(URL, {"action": "credit", "customer": sandbox_customer.external_id, "exchange": "polymarket",
                               "amount_usdc": "25"})
    after = get_client().get_balance(customer_id=str(sandbox_customer.parsec_customer_id), exchange="polymarket")
    assert after.usdc_base_units - before.usdc_base_units == 25_000_000
    event = AuditEvent.objects.get(action="rehearsal.credit")
    assert event.outcome == "ok" and event.customer_id == sandbox_customer.pk


def test_a_refused_action_is_audited_and_said(operator_client, escrow_settings):
    operator_client.post(URL, {"action": "credit", "customer": "nobody-at-all", "exchange": "polymarket", "amount_usdc": "5"})
    assert AuditEvent.objects.get(action="rehearsal.credit").outcome == "rejected"
