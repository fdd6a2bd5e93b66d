"""A compliance reviewer in a real browser: open an alert, review and close it, export the
customer's activity as CSV, and be refused when trying to place an order."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest

from audit.models import AuditEvent
from compliance.models import Alert, Review
from compliance.surveillance import run_surveillance
from orders.models import Order
from tests import factories as f
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def flagged(transactional_db, operator):
    cust, mkt = f.customer(external_id="whale-001"), f.market(question="Will the index close above 5,000?")
    for days in range(2, 8):
        f.order(cust, mkt, price="0.50", size="10", at=f.ago(days=days), status="filled")
    f.order(cust, mkt, price="0.50", size="2000", at=f.ago(minutes=20), placed_by=Order.PlacedBy.OPERATOR,
            placed_by_user=operator, parsec_order_id="=HYPERLINK(\"http://evil\")")
    run_surveillance(customer_ids=[cust.pk])
    return cust


def test_reviewer_reviews_an_alert_exports_csv_and_cannot_place_orders(page, flagged, reviewer, parsec_settings):
    login(page, reviewer.username)
    page.wait_for_selector("text=Parsec up")
    assert int(page.locator('[data-figure="open-alerts"]').inner_text()) == 1  # operator orders raise none of their own
    shot(page, "10-compliance-dashboard")

    page.click("text=Order of 2,000 is 200")
    page.wait_for_selector("#alert-detail")
    alert = Alert.objects.get(rule="size_change")
    assert page.locator("[data-status]").get_attribute("data-status") == "open"
    page.click("#assign-alert")
    page.wait_for_selector("#review-form")
    page.click("#submit-review")  # no note: refused, nothing written
    page.wait_for_selector("text=Give a disposition and a note.")
    assert not Review.objects.exists()
    page.select_option("#id_disposition", "explained")
    page.fill("#id_note", "Operator placed it on the customer's written instruction (ticket 88).")
    shot(page, "11-alert-review-form")
    page.click("#submit-review")
    page.wait_for_selector("#close-alert")
    page.click("#close-alert")
    page.wait_for_selector("text=immutable")
    shot(page, "12-alert-closed")
    alert.refresh_from_db()
    assert alert.status == "closed" and alert.review.disposition == "explained" and alert.review.closed_by == reviewer

    page.click("text=Export this customer's activity")
    page.fill("#id_start", (date.today() - timedelta(days=10)).isoformat())
    page.fill("#id_reason", "Quarterly review")
    shot(page, "13-export-form")
    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["kind", "at (UTC)", "reference"]
    assert [r[0] for r in rows if r[0] == "order"] == ["order"] * 7
    assert any(r[2] == "'=HYPERLINK(\"http://evil\")" for r in rows)
    assert AuditEvent.objects.filter(action="export.activity", actor=reviewer).count() == 1

    page.click("#statement-form button[type=submit]")
    page.wait_for_selector("#statement")
    assert page.locator("#statement h1").inner_text().startswith("Statement")
    shot(page, "16-monthly-statement")

    page.goto(f"/admin/customers/360/{flagged.pk}/")
    assert page.locator("#place-order").count() == 0
    shot(page, "14-compliance-customer-360")
    response = page.goto(f"/admin/orders/orderintent/place/?customer={flagged.pk}")
    assert response.status == 403
    shot(page, "15-compliance-refused-order")
