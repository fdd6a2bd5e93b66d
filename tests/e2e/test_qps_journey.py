"""qps_limit: the pool before and after shows while the operator types; above the pool is refused
with the numbers; nothing changes at Parsec."""

from __future__ import annotations

import uuid

import pytest

from customers import services
from parsec.client import get_client
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_a_qps_limit_above_the_pool_is_previewed_then_refused(page, parsec_settings, transactional_db, operator, qps_pool):
    customer = services.create_end_user(actor=operator, external_id=f"qps-{uuid.uuid4().hex[:8]}")
    pool = get_client().get_pool()
    qps_pool(pool.total_allocated_qps + 5)
    too_many = customer.qps_limit + 6
    login(page, operator.username)
    page.goto(f"/admin/customers/customer/{customer.pk}/qps-limit/")
    assert page.locator(".trading-error").count() == 0
    page.fill("#id_qps_limit", str(too_many))
    page.wait_for_selector("#qps-preview[data-over=true]")
    preview = page.inner_text("#qps-preview")
    assert f"{pool.total_allocated_qps + 6} of {pool.total_allocated_qps + 5}" in preview and "1 over the pool" in preview
    shot(page, "qps-01-preview-over")
    page.fill("#id_reason", "Customer's bot needs more")
    page.click("button:has-text('Change qps_limit')")
    page.wait_for_selector(".trading-error[role=alert]")
    refusal = page.inner_text("#content")
    assert f"{too_many} would allocate {pool.total_allocated_qps + 6} QPS of the builder's pool of {pool.total_allocated_qps + 5}" in refusal
    assert get_client().get_user(customer_id=str(customer.parsec_customer_id)).qps_limit == customer.qps_limit
    shot(page, "qps-02-refused")
