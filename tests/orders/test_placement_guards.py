"""Hole 5 of issue 13: the maker cannot reject their own request, money promised to orders that
can still be sent is held (checked again when the order is sent), and the claim is one
conditional UPDATE (the race test forces both senders past their read before either claims)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models.query import QuerySet

from approvals import services as approvals
from approvals.services import ApprovalError
from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def polymarket_market() -> Market:
    return Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()


def orders_at_sandbox(sandbox, customer) -> list:
    return list(sandbox.sdk().orders.list(exchange="polymarket", status="all",
                                          extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)}))


def test_the_maker_cannot_reject_their_own_request(trading_customer, operator, settings):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("1")
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=f.market("polymarket"), outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="big"))
    request = services.submit_for_approval(intent=intent, actor=operator)
    with pytest.raises(ApprovalError) as refused:
        approvals.reject(request=request, actor=operator, note="changed my mind")
    assert (refused.value.code, refused.value.kind) == ("maker_cannot_reject", "forbidden")
    request.refresh_from_db()
    intent.refresh_from_db()
    assert request.status == "pending" and intent.status == OrderIntent.Status.AWAITING_APPROVAL


def test_two_approved_orders_cannot_together_overspend(sandbox, sandbox_customer, operator, second_operator, settings,
                                                       capture_enqueues):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("0.10")
    balance = sandbox_customer.balance_snapshots.filter(exchange="polymarket").latest("taken_at").usdc
    price = Decimal("0.05")
    size = (balance * Decimal("0.6") / price).to_integral_value()
    market = polymarket_market()
    first, second = (services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=price, size=size + extra, reason="big"))
                     for extra in (0, 1))
    requests = [services.submit_for_approval(intent=intent, actor=operator) for intent in (first, second)]
    approvals.approve(request=requests[0], actor=second_operator)
    approved = approvals.approve(request=requests[1], actor=second_operator)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OrderIntent.Status.PLACED
    assert second.status == OrderIntent.Status.WITHDRAWN and second.error_code == "refused_before_sending"
    assert "Not enough balance" in second.error_message and approved.result["ok"] is False
    assert [o.id for o in orders_at_sandbox(sandbox, sandbox_customer)] == [first.parsec_order_id]


def test_two_senders_past_their_read_place_the_intent_once(sandbox, sandbox_customer, operator, second_operator,
                                                           capture_enqueues, monkeypatch):
    """Both threads read the intent (``new``) and meet at a barrier before either claims it: a
    check-then-act claim sends twice every time; a conditional UPDATE lets exactly one through."""
    market = polymarket_market()
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.05"), size=max(market.min_order_size or Decimal(1), Decimal(10)), reason="race"))
    barrier = threading.Barrier(2)
    racers: dict[int, bool] = {}
    original_get = QuerySet.get

    def get_then_meet(self, *args, **kwargs):
        found = original_get(self, *args, **kwargs)
        me = threading.get_ident()
        if self.model is OrderIntent and racers.get(me) is False:
            racers[me] = True
            barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(QuerySet, "get", get_then_meet)
    results, errors = [], []

    def send(actor):
        racers[threading.get_ident()] = False
        try:
            results.append(services.submit_intent(intent=intent, actor=actor))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(user,)) for user in (operator, second_operator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(r.sent for r in results) == [False, True]
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1
