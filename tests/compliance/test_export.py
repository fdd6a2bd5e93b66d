"""Activity CSV: streamed, in range, formula-safe, audited; the monthly statement adds up."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_action
from compliance.exports import safe_cell
from tests import factories as f

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_cells_a_spreadsheet_would_evaluate_get_a_quote(text):
    assert safe_cell(text) == "'" + text


def test_plain_cells_are_left_alone():
    assert safe_cell("Will it rain?") == "Will it rain?" and safe_cell(Decimal("0.5")) == "0.5" and safe_cell(None) == ""


@pytest.mark.parametrize(("value", "cell"), [(Decimal("1E+1"), "10"), (Decimal("0E-8"), "0"), (Decimal("-2.50"), "-2.5"),
                                             (-3, "-3"), ("-2", "-2"), (Decimal("0.62000000"), "0.62")])
def test_numbers_are_plain_decimals_and_a_negative_stays_a_number(value, cell):
    assert safe_cell(value) == cell


def export(client, customer, start="2026-03-01", end="2026-03-31", reason="Regulator request 42"):
    return client.post(reverse("admin:compliance_alert_export", args=[customer.pk]), {"start": start, "end": end, "reason": reason})


def test_the_export_streams_the_range_only_defuses_formulas_and_is_audited(reviewer_client, reviewer):
    cust, mkt = f.customer(), f.market(question="=cmd|' /C calc'!A0")
    inside = f.order(cust, mkt, at=f.ago(hours=1), parsec_order_id="=EVIL()")
    f.order(cust, mkt, at=f.ago(days=40))  # before the range
    f.fill(cust, mkt, at=f.ago(minutes=30), order_row=inside, fee="0.01")
    record_action(actor="system", action="order.cancel", customer=cust, reason="-- operator note", outcome="ok")
    today = date.today()
    response = export(reviewer_client, cust, start=str(today - timedelta(days=1)), end=str(today))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    kinds = [row[0] for row in rows[1:]]
    # the export's own audit row is written before the first byte, so it is part of the export
    assert kinds.count("order") == 1 and kinds.count("fill") == 1 and kinds.count("operator action") == 2
    order_row = next(row for row in rows if row[0] == "order")
    assert order_row[2] == "'=EVIL()"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    event = AuditEvent.objects.filter(action="export.activity").get()
    assert event.actor == reviewer and event.reason == "Regulator request 42"
    assert event.request["end"] == str(today)


def test_a_backwards_range_or_a_missing_reason_is_refused_and_not_audited(reviewer_client):
    cust = f.customer()
    backwards = export(reviewer_client, cust, start="2026-03-31", end="2026-03-01")
    assert backwards.status_code == 200 and b"The end date is before the start date." in backwards.content
    assert export(reviewer_client, cust, reason="").status_code == 200
    assert not AuditEvent.objects.filter(action="export.activity").exists()


def test_operations_cannot_export(operator_client):
    cust = f.customer()
    assert operator_client.get(reverse("admin:compliance_alert_export", args=[cust.pk])).status_code == 403
    assert export(operator_client, cust).status_code == 403


def test_a_large_export_streams_every_row(reviewer_client):
    cust, mkt = f.customer(), f.market()
    from orders.models import Order

    Order.objects.bulk_create([
        Order(parsec_order_id=f"bulk-{i}", exchange="polymarket", customer=cust, market=mkt, market_native_id="m",
              outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal("1"), status="open", created_at=at(5))
        for i in range(5000)
    ])
    response = export(reviewer_client, cust)
    lines = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
    assert lines == 1 + 5000  # header and the orders (the audit row is dated today, outside March)


def test_the_monthly_statement_adds_up_between_balance_reads_with_titles_and_plain_numbers(reviewer_client):
    cust = f.customer(external_id="alice/ext 7")
    mkt = f.market(question="Will it rain in March?")
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=100_000_000, taken_at=at(28, month=2))
    f.fill(cust, mkt, side="buy", price="0.40", size="10", at=at(25, month=2))  # before the opening read: cost basis only
    f.fill(cust, mkt, side="buy", price="0.60", size="10", at=at(3))  # average 0.50 on 20; -6.00
    f.fill(cust, mkt, side="sell", price="0.80", size="5", at=at(20), fee="0.02")  # +4.00 - 0.02; realises (0.80-0.50)*5 = 1.50
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=97_980_000, taken_at=at(21))
    f.fill(cust, mkt, side="sell", price="0.90", size="1", at=at(30))  # after the closing read: next month's
    url = reverse("admin:compliance_alert_statement", args=[cust.pk])
    page = reviewer_client.get(url, {"month": "2026-03", "format": "html"})
    assert page.status_code == 200
    part = page.context["statement"].exchange("polymarket")
    assert (part.opening_units, part.closing_units) == (100_000_000, 97_980_000)
    assert (part.bought_units, part.sold_units, part.fees_units, part.settlements_units) == (6_000_000, 4_000_000, 20_000, 0)
    assert part.reconciliation_units == 0 and part.outside_units == 900_000
    assert part.realised_units == 1_500_000 + 400_000  # the late sale realises (0.90 - 0.50) in March too
    [line] = part.open_positions
    assert line.quantity == Decimal("14") and line.average_cost == Decimal("0.5")
    html = page.content.decode()
    assert "Will it rain in March?" in html and mkt.order_market_id not in html
    assert "E+" not in html and "0E-" not in html
    as_csv = reviewer_client.get(url, {"month": "2026-03", "format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv["Content-Disposition"] == 'attachment; filename="statement-alice_ext_7-2026-03.csv"'
    rows = list(csv.reader(io.StringIO(as_csv.content.decode())))
    assert ["Reconciliation: opening + movements - closing (USDC)", "0"] in rows
    assert ["Fills: bought (USDC)", "-6"] in rows and ["Exchange fees (USDC)", "-0.02"] in rows
    assert any(row[3:4] == ["Will it rain in March?"] for row in rows)
    assert AuditEvent.objects.filter(action="export.statement").count() == 2
    assert reviewer_client.get(url, {"month": "March", "format": "csv"}).status_code == 302


def test_a_statement_without_balance_history_before_the_month_says_so_and_starts_at_the_first_read(reviewer_client):
    cust, mkt = f.customer(), f.market()
    f.fill(cust, mkt, side="buy", price="0.50", size="10", at=at(2))  # before the first read: not reconciled here
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=95_000_000, taken_at=at(3))
    f.fill(cust, mkt, side="buy", price="0.50", size="10", at=at(4))
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=90_000_000, taken_at=at(5))
    page = reviewer_client.get(reverse("admin:compliance_alert_statement", args=[cust.pk]), {"month": "2026-03", "format": "html"})
    part = page.context["statement"].exchange("polymarket")
    assert part.opening_units == 95_000_000 and "No balance history before 2026-03-01" in part.opening_note
    assert part.reconciliation_units == 0 and [f.reconciled for f in part.fills] == [False, True]
    assert "No balance history before 2026-03-01" in page.content.decode()


def test_the_statement_pdf_renders_its_figures_as_text(reviewer_client):
    from pypdf import PdfReader

    cust = f.customer(external_id="pdf-customer")
    mkt = f.market(question="Will the PDF render?")
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=1_000_000_000, taken_at=at(1, month=3))
    f.fill(cust, mkt, side="buy", price="0.25", size="40", at=at(2))
    f.BalanceSnapshotFactory(customer=cust, exchange="polymarket", usdc_base_units=990_000_000, taken_at=at(3))
    response = reviewer_client.get(reverse("admin:compliance_alert_statement", args=[cust.pk]), {"month": "2026-03", "format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement-pdf-customer-2026-03.pdf"'
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "Statement · March 2026" in text and "pdf-customer" in text and "Will the PDF render?" in text
    assert "1,000.000000" in text and "990.000000" in text and "-10.000000" in text
    assert "Reconciliation" in text and "E+" not in text
