"""The market page and "resolving soon" show an operator what they need, in the admin and the API,
from the mirror (exposure) and Parsec's live data (book, trades, price history, event)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from orders.models import Market
from tests.orders.lifecycle import best_ask, new_market, new_user, place, sync_all

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def traded_market(parsec_settings, sandbox):
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    sdk = sandbox.sdk()
    ends = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    market = new_market(sandbox, exchange="polymarket", price="0.30", end_date=ends.isoformat(), event_id=f"pages-{ends:%H%M%S%f}")
    sibling = new_market(sandbox, exchange="polymarket", price="0.60", event_id=f"pages-{ends:%H%M%S%f}",
                         end_date=(ends + timedelta(days=30)).isoformat())
    holder = new_user(sdk, prefix="pages")
    place(sdk, holder, market, outcome="Yes", side="buy", price=best_ask(sdk, market, "Yes"), size=50)
    place(sdk, holder, market, outcome="Yes", side="buy", price="0.05", size=20)  # rests
    sync_all(holder)
    return market, sibling, Customer.objects.get(parsec_customer_id=holder)


def test_the_market_page_shows_status_book_history_trades_event_and_our_exposure(traded_market, operator_client):
    market, sibling, holder = traded_market
    row = Market.objects.get(parsec_id=market["parsec_id"])
    response = operator_client.get(reverse("admin:orders_market_change", args=[row.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    context = response.context
    assert market["question"] in html and 'data-status="active"' in html and "Resolves per the sandbox" in html
    assert context["book_error"] == "" and context["book"]["asks"] and context["book"]["bids"]
    assert context["trades_error"] == "" and len(context["trades"].trades) >= 1
    assert context["chart"] is not None and "<polyline" in html
    assert [m.parsec_id for m in context["siblings"]] == [sibling["parsec_id"]]
    exposure = context["exposure"]
    assert exposure.customers == 1 and exposure.open_order_count == 1
    assert exposure.open_order_notional == Decimal("1.00")  # 20 x 0.05
    assert holder.external_id in html and "E+" not in html


def test_resolving_soon_lists_markets_ending_within_the_days_largest_exposure_first(traded_market, operator_client):
    market, sibling, _holder = traded_market
    page = operator_client.get(reverse("admin:orders_market_resolving_soon"), {"days": 5})
    assert page.status_code == 200
    listed = [m.parsec_id for m in page.context["markets"]]
    assert market["parsec_id"] in listed and sibling["parsec_id"] not in listed
    exposures = [m.exposure for m in page.context["markets"]]
    assert exposures == sorted(exposures, reverse=True)
    ours = next(m for m in page.context["markets"] if m.parsec_id == market["parsec_id"])
    assert ours.holders == 1 and ours.exposure_orders == Decimal("1.00") and ours.exposure_cost > 0


def test_the_api_serves_market_detail_trades_price_history_exposure_and_resolving_soon(traded_market, operator_client):
    market, _sibling, _holder = traded_market
    row = Market.objects.get(parsec_id=market["parsec_id"])
    detail = operator_client.get(f"/api/markets/{row.pk}/").json()
    assert (detail["status"], detail["lifecycle"], detail["past_end_date"]) == ("active", "Active", False)
    assert detail["rules"].startswith("Resolves per the sandbox")
    trades = operator_client.get(f"/api/markets/{row.pk}/trades/", {"outcome": "Yes"}).json()
    assert trades and {"price", "size", "timestamp"} <= set(trades[0])
    candles = operator_client.get(f"/api/markets/{row.pk}/price-history/", {"outcome": "Yes", "interval": "1h"}).json()
    assert candles and {"open", "high", "low", "close", "volume"} <= set(candles[0])
    assert operator_client.get(f"/api/markets/{row.pk}/price-history/", {"interval": "2h"}).status_code == 400
    exposure = operator_client.get(f"/api/markets/{row.pk}/exposure/").json()
    assert exposure["customers"] == 1 and exposure["open_order_count"] == 1 and Decimal(exposure["open_order_notional"]) == Decimal(1)
    soon = operator_client.get("/api/markets/resolving-soon/", {"days": 5}).json()
    assert market["parsec_id"] in [m["parsec_id"] for m in soon]


def test_a_market_past_its_end_date_still_listed_active_is_flagged_not_plainly_active(db, operator_client):
    overdue = Market.objects.create(parsec_id="kalshi:OVERDUE-1", exchange="kalshi", exchange_market_id="OVERDUE-1",
                                    order_market_id="OVERDUE-1", question="Overdue?", status="active",
                                    end_date=timezone.now() - timedelta(days=200))
    assert overdue.past_end_date and overdue.lifecycle_label == "Active, past its end date"
    listing = operator_client.get(reverse("admin:orders_market_changelist"), {"past_end_date": "true"})
    assert "Active, past its end date" in listing.content.decode()
    assert operator_client.get(f"/api/markets/{overdue.pk}/").json()["past_end_date"] is True


@pytest.mark.parametrize("action", ["trades", "price-history"])
def test_a_market_parsec_no_longer_lists_is_a_404_on_its_live_reads(parsec_settings, operator_client, action):
    """schemathesis found 422 (undocumented) for a mirrored market Parsec answers 404 for: a read of
    something that is not there is a 404, the same code and sentence as elsewhere."""
    gone = Market.objects.create(parsec_id="kalshi:GONE-1", exchange="kalshi", exchange_market_id="GONE-1",
                                 order_market_id="GONE-1", question="Gone?", status="active")
    response = operator_client.get(f"/api/markets/{gone.pk}/{action}/")
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "not_found" and "market not found: kalshi:GONE-1" in error["message"]


@pytest.mark.parametrize("action", ["trades", "price-history"])
def test_an_outcome_the_market_does_not_have_is_a_422_naming_its_outcomes(traded_market, operator_client, action):
    """Any string is a valid outcome by the schema; one this market lacks is refused by a rule about
    the market, so 422 (schemathesis, PostgreSQL pass: 400 for ?outcome=4L was 'schema-valid request
    rejected')."""
    market, _sibling, _holder = traded_market
    row = Market.objects.get(parsec_id=market["parsec_id"])
    response = operator_client.get(f"/api/markets/{row.pk}/{action}/", {"outcome": "4L"})
    assert response.status_code == 422, response.content
    assert response.json()["error"] == {"code": "invalid", "message": "outcome must be one of: Yes, No",
                                        "fields": {"outcome": ["outcome must be one of: Yes, No"]}}
    schema = operator_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "422" in schema["paths"][f"/api/markets/{{id}}/{action}/"]["get"]["responses"]
