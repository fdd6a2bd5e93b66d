"""The market pages an operator uses: one market (question, rules, status and dates, the live
book, price history, recent trades, its event, our exposure) and the markets resolving soon."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone

from core.admin import admin_page, require_permission
from orders import market_data
from orders.models import Market

INTERVALS = ("1h", "6h", "1d", "1w")


def market_page(model_admin, request, object_id):
    require_permission(request, "orders.view_market")
    market = get_object_or_404(Market, pk=object_id)
    outcome = request.GET.get("outcome") or (market.outcome_names[0] if market.outcome_names else "")
    if market.outcome_names and outcome not in market.outcome_names:
        outcome = market.outcome_names[0]
    interval = request.GET.get("interval") if request.GET.get("interval") in INTERVALS else "1h"
    book, book_error = market_data.order_book(market, outcome=outcome)
    trades, trades_error = market_data.recent_trades(market, outcome=outcome)
    history, history_error = market_data.price_history(market, outcome=outcome, interval=interval)
    event, event_error = market_data.parsec_event(market)
    return admin_page(model_admin, request, "orders/markets/market.html", {
        "market": market, "outcome": outcome, "interval": interval, "intervals": INTERVALS,
        "book": book, "book_error": book_error, "trades": trades, "trades_error": trades_error,
        "chart": market_data.price_chart(history), "history_error": history_error,
        "event": event, "event_error": event_error, "siblings": market_data.siblings(market),
        "exposure": market_data.exposure(market), "now": timezone.now(),
    }, title=market.question[:120])


def resolving_soon_page(model_admin, request):
    require_permission(request, "orders.view_market")
    raw = request.GET.get("days", "")
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= 365 else settings.MARKETS_RESOLVING_SOON_DAYS
    return admin_page(model_admin, request, "orders/markets/resolving_soon.html", {
        "markets": market_data.resolving_soon(days=days), "days": days, "now": timezone.now(),
    }, title=f"Markets resolving in the next {days} days")
