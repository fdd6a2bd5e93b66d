"""Sync now from a customer's page: the confirmation closes at once, the run's progress shows on the
page and its result replaces it when the worker is done (no reload); a second click joins the run."""

from __future__ import annotations

import re

import pytest

from sync import tasks
from sync.models import SyncRun
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_sync_now_shows_progress_then_the_result_without_a_reload(page, sandbox_customer, operator, monkeypatch):
    customer = sandbox_customer
    handed = []  # what the broker would carry to a worker: the worker below runs it when the test says
    monkeypatch.setattr(tasks.sync_customer, "delay", lambda *args, **kwargs: handed.append((args, kwargs)))
    login(page, operator.username)
    page.goto(f"/admin/customers/360/{customer.pk}/")
    page.click("#sync-now")
    page.wait_for_url(re.compile(r".*/sync/syncrun/start/\?customer=\d+$"))
    shot(page, "sync-01-confirm")
    page.click("button:has-text('Sync now')")
    page.wait_for_selector("#syncrun-progress[data-status=running]")
    assert page.locator("form button:has-text('Sync now')").count() == 0  # the confirmation is gone
    page.evaluate("window.__same_page = true")
    shot(page, "sync-02-running")
    run = SyncRun.objects.get(customer=customer, trigger="on-demand")

    # A second click (from the customer's page again) joins the running sync instead of starting another.
    second = page.context.new_page()
    second.goto(f"/admin/sync/syncrun/start/?customer={customer.pk}")
    assert "a sync is running" in second.inner_text("body")
    second.click("button:has-text('Sync now')")
    second.wait_for_selector("#syncrun-progress")
    assert f"/syncrun/{run.pk}/" in second.url
    second.close()
    assert SyncRun.objects.filter(customer=customer, trigger="on-demand").count() == 1

    args, kwargs = handed[0]
    tasks.sync_customer(*args, **kwargs)  # the worker runs the sync
    page.wait_for_selector("#syncrun-progress[data-status=succeeded]", timeout=15_000)
    result = page.locator("#syncrun-progress").inner_text()
    run.refresh_from_db()
    assert "Succeeded" in result and f"{run.progress_total} / {run.progress_total}" in result and "Done:" in result
    assert page.evaluate("window.__same_page") is True
    shot(page, "sync-03-result")
