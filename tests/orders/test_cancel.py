"""Cancelling one, some or all open orders of a customer, with a result per order; the kill switch's cancels."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core import formatting as fmt
from orders import services
from orders.models import Market, Order, OrderIntent
from orders.services import OrderRequest

pytestmark = pytest.mark.django_db(transaction=True)


def markets(n=2) -> list[Market]:
    return list(Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk")[:n])


def place(customer, operator, market, price="0.05", size=None) -> Order:
    size = Decimal(size) if size else max(market.min_order_size or Decimal(1), Decimal(10))
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal(price), size=size, reason="setup"))
    result = services.submit_intent(intent=intent, actor=operator)
    assert result.intent.status == OrderIntent.Status.PLACED, result.message
    return Order.objects.get(parsec_order_id=result.intent.parsec_order_id)


def status_at_sandbox(sandbox, customer, order: Order) -> str:
    return sandbox.sdk().orders.retrieve(
        order.parsec_order_id, exchange="polymarket",
        extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)},
    ).status


def test_cancel_one_order(sandbox, sandbox_customer, operator, capture_enqueues):
    m = markets(1)[0]
    keep, target = place(sandbox_customer, operator, m), place(sandbox_customer, operator, m, price="0.06")
    results = services.cancel_orders(actor=operator, reason="client asked", order_ids=[target.pk])
    assert [(r.order.pk, r.result) for r in results] == [(target.pk, "cancelled")]
    assert results[0].message == f"Cancelled (filled 0 of {fmt.size(target.size)} before the cancel)."  # was '0 of 1E+1'
    assert status_at_sandbox(sandbox, sandbox_customer, target) == "cancelled"
    assert status_at_sandbox(sandbox, sandbox_customer, keep) == "open"
    target.refresh_from_db()
    assert target.status == Order.Status.CANCELLED


def test_cancel_all_open_orders_of_a_customer_in_one_market(sandbox, sandbox_customer, operator, capture_enqueues):
    a, b = markets(2)
    in_a = [place(sandbox_customer, operator, a), place(sandbox_customer, operator, a, price="0.06")]
    in_b = place(sandbox_customer, operator, b)
    preview = list(services.orders_to_cancel(customer=sandbox_customer, market_native_id=a.order_market_id))
    assert {o.pk for o in preview} == {o.pk for o in in_a}
    results = services.cancel_orders(actor=operator, reason="market closing", customer=sandbox_customer,
                                     market_native_id=a.order_market_id)
    assert sorted(r.result for r in results) == ["cancelled", "cancelled"]
    assert status_at_sandbox(sandbox, sandbox_customer, in_b) == "open"


def test_an_order_filled_meanwhile_is_reported_as_already_filled(sandbox, sandbox_customer, operator, capture_enqueues):
    m = markets(1)[0]
    order = place(sandbox_customer, operator, m, price="0.99")  # crosses the book: fills at once
    assert status_at_sandbox(sandbox, sandbox_customer, order) == "filled"
    Order.objects.filter(pk=order.pk).update(status=Order.Status.OPEN, filled=0)  # the mirror had not seen it yet
    results = services.cancel_orders(actor=operator, reason="too late", order_ids=[order.pk])
    assert results[0].result == "already_filled"
    assert results[0].message == f"Already filled at Parsec (filled {fmt.size(order.size)} of {fmt.size(order.size)})."
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED


def test_a_cancel_parsec_refuses_is_failed_with_its_reason(sandbox, sandbox_customer, operator, capture_enqueues):
    ghost = Order.objects.create(
        parsec_order_id="order_that_never_was", exchange="polymarket", customer=sandbox_customer,
        market_native_id=markets(1)[0].order_market_id, outcome="Yes", side="buy", price=Decimal("0.05"),
        size=Decimal("10"), status=Order.Status.OPEN, created_at=timezone.now(),
    )
    results = services.cancel_orders(actor=operator, reason="cleanup", order_ids=[ghost.pk])
    assert results[0].result == "failed" and "does not know" in results[0].message


def test_engaging_a_customer_kill_switch_cancels_their_open_orders(sandbox, sandbox_customer, operator, capture_enqueues):
    m = markets(1)[0]
    orders = [place(sandbox_customer, operator, m), place(sandbox_customer, operator, m, price="0.06")]
    switch, results = services.engage_kill_switch(scope="customer", customer=sandbox_customer, actor=operator,
                                                  reason="account compromised")
    assert sorted(r.result for r in results) == ["cancelled", "cancelled"]
    assert switch.cancel_summary["cancelled"] == 2
    assert {status_at_sandbox(sandbox, sandbox_customer, o) for o in orders} == {"cancelled"}


def test_the_cancel_page_lists_then_cancels(client, sandbox, sandbox_customer, operator, capture_enqueues):
    client.force_login(operator)
    m = markets(1)[0]
    order = place(sandbox_customer, operator, m)
    url = reverse("admin:orders_orderintent_cancel")
    listing = client.get(url, {"customer": sandbox_customer.pk})
    assert order.parsec_order_id in listing.content.decode() and "Cancel 1 order" in listing.content.decode()
    assert "This field is required" not in listing.content.decode()  # nothing was submitted yet
    done = client.post(url, {"customer": sandbox_customer.pk, "reason": "client asked", "confirmed": "1"})
    assert done.status_code == 302 and done["Location"] == url + "?done=1"  # the result is a page of its own: no re-post on reload
    body = client.get(done["Location"]).content.decode()
    assert "cancelled" in body and "Cancelled (filled 0" in body
    assert status_at_sandbox(sandbox, sandbox_customer, order) == "cancelled"
    again = client.get(done["Location"])  # reloaded: shown once; the orders list says where things stand
    assert again.status_code == 302 and again["Location"] == reverse("admin:orders_order_changelist")


def test_a_builder_wide_kill_switch_cancels_every_open_order_in_a_task(sandbox, sandbox_customer, operator, capture_enqueues, eager_celery):
    m = markets(1)[0]
    orders = [place(sandbox_customer, operator, m), place(sandbox_customer, operator, m, price="0.06")]
    switch, results = services.engage_kill_switch(scope="builder", actor=operator, reason="exchange incident")
    assert results == []  # not cancelled by the request: by the task, which ran eagerly here
    switch.refresh_from_db()
    assert switch.cancel_summary["cancelled"] == 2 and switch.cancel_summary["failed"] == []
    assert {status_at_sandbox(sandbox, sandbox_customer, o) for o in orders} == {"cancelled"}
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="order.cancel.killswitch", actor=operator).count() == 2
