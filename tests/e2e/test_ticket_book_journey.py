"""#17's live order ticket: with the place-order page open, the book beside the form follows the
market within a second, without a reload; the server reads it through the gateway (no key in the page)."""

from __future__ import annotations

import time

import pytest

from orders.models import Market
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e]


def test_the_ticket_book_follows_the_market_without_a_reload(page, sandbox, sandbox_customer, operator):
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    login(page, operator.username)
    page.goto(f"/admin/orders/orderintent/place/?customer={sandbox_customer.pk}")
    page.select_option("#id_market", str(market.pk))
    page.wait_for_selector("#book-levels")
    page.evaluate("window.__same_page = true")
    first_read = page.get_attribute("[data-book-at]", "data-book-at")
    before = page.inner_text("#book-levels")
    shot(page, "ticket-01-book")

    # The book is read again every second while the page is open.
    started = time.monotonic()
    page.wait_for_function(f"document.querySelector('[data-book-at]').dataset.bookAt !== '{first_read}'", timeout=5_000)
    assert time.monotonic() - started < 2.5

    # The market moves at the sandbox: the page shows the new book on its own.
    best_bid = page.locator("#book-levels tbody tr").first.locator("td.bids").nth(1).inner_text()
    target = "0.2" if float(best_bid) > 0.4 else "0.8"
    sandbox.control("POST", f"markets/{market.parsec_id}/move", json={"price": target, "outcome": "Yes"})
    page.wait_for_function("(before) => document.querySelector('#book-levels').innerText !== before", arg=before, timeout=5_000)
    assert page.evaluate("window.__same_page") is True
    assert sandbox.builder_key not in page.content()  # the browser never holds a Parsec key
    shot(page, "ticket-02-book-moved")
