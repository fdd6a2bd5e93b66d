"""A rehearsal from the back-office: an operator resolves a sandbox market from the rehearsal page;
the sandbox resolves it and the action is in the audit log."""

from __future__ import annotations

import uuid

import pytest

from audit.models import AuditEvent
from orders.models import Market
from tests.e2e.conftest import login, shot
from tests.sandbox_client import sync_catalogue

pytestmark = [pytest.mark.e2e]


def test_a_rehearsal_resolves_a_market(page, sandbox, escrow_settings, transactional_db, operator):
    question = f"Rehearsal market {uuid.uuid4().hex[:8]}?"
    created = sandbox.control("POST", "markets", json={"exchange": "polymarket", "question": question}).json()
    sync_catalogue()
    market = Market.objects.get(parsec_id=created["parsec_id"])

    login(page, operator.username)
    page.click("#nav-sidebar >> text=Rehearsal (sandbox)")
    page.wait_for_url("**/admin/rehearsal/")
    page.select_option("#rehearsal-market-choice", str(market.pk))
    page.click("#rehearsal-market button:has-text('Open')")
    page.wait_for_selector("#rehearsal-market-state[data-status=active]")
    shot(page, "rehearsal-01-market")
    page.select_option("#resolve-outcome", "Yes")
    page.fill("#market-reason", "Rehearsing a resolution")
    page.click("#rehearsal-resolve")
    page.wait_for_selector(f"text={question}: resolved, Yes wins.")
    state = sandbox.control("GET", f"markets/{market.parsec_id}").json()
    assert state["status"] == "resolved"
    event = AuditEvent.objects.get(action="rehearsal.resolve")
    assert event.outcome == "ok" and event.actor == operator and event.reason == "Rehearsing a resolution"
    assert sandbox.admin_key not in page.content()
    page.goto(f"/admin/rehearsal/?market={market.pk}")
    assert page.get_attribute("#rehearsal-market-state", "data-status") == "resolved"
    shot(page, "rehearsal-02-resolved")
