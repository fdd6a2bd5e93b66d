"""Hole 2 of issue 13: a slow send is not a lost one. The claim carries a lease (the gateway's
hard deadline for one order creation) the sweeper respects, and a success that arrives after
the intent was decided without it is still recorded, for a person to review."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from orders import services
from orders.models import OrderIntent
from orders.services.outcomes import record_placed
from parsec.client import get_client
from tests.orders.in_flight import resting_buy, send_in_background, wait_for

pytestmark = pytest.mark.django_db(transaction=True)



def orders_at_sandbox(sandbox, customer) -> list:
    return list(sandbox.sdk().orders.list(exchange="polymarket", status="all",
                                          extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)}))


def test_a_slow_send_is_not_declared_not_placed_while_parsec_is_placing_it(
        sandbox, sandbox_customer, operator, fault, capture_enqueues, settings):
    settings.ORDER_SENDING_STALE_SECONDS = 1  # the 60 s threshold, shortened
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0.5
    fault("latency", latency_ms=3000)
    intent = resting_buy(sandbox_customer, operator, reason="slow send")
    thread, outcome = send_in_background(intent, operator)
    wait_for(intent, OrderIntent.Status.SENDING)
    time.sleep(1.5)  # past the shortened threshold, while Parsec still holds the request
    services.sweep_order_intents()
    time.sleep(0.6)
    services.sweep_order_intents()
    thread.join(timeout=30)
    assert "error" not in outcome, outcome
    intent.refresh_from_db()
    at_parsec = orders_at_sandbox(sandbox, sandbox_customer)
    assert [o.id for o in at_parsec] == [intent.parsec_order_id]
    assert intent.status == OrderIntent.Status.PLACED and intent.order_id is not None
    assert AuditEvent.objects.filter(action="order.place", outcome="ok").count() == 1


def test_a_success_after_the_intent_was_declared_not_placed_is_kept_for_review(
        sandbox, sandbox_customer, operator, capture_enqueues):
    intent = resting_buy(sandbox_customer, operator, reason="slow send")
    created = sandbox.sdk().orders.create(
        exchange="polymarket", market_id=intent.market_native_id, outcome="Yes", side="buy", price=float(intent.price),
        size=float(intent.size), extra_headers={"X-Builder-Customer-Id": str(sandbox_customer.parsec_customer_id)})
    OrderIntent.objects.filter(pk=intent.pk).update(
        status=OrderIntent.Status.NOT_PLACED, sent_at=timezone.now(), resolved_at=timezone.now(),
        reconcile_note="No matching order at Parsec after the settling time.")
    order = get_client().get_order(customer_id=str(sandbox_customer.parsec_customer_id), exchange="polymarket",
                                   order_id=created.id)
    record_placed(intent=intent, actor=operator, order=order, via="send")
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.NEEDS_REVIEW and intent.parsec_order_id == created.id
    assert intent.order is not None and intent.order.parsec_order_id == created.id
    assert "Not placed" in intent.reconcile_note and created.id in intent.reconcile_note
    event = AuditEvent.objects.get(action="order.place")
    assert event.outcome == "ok" and event.response["late"] is True and event.response["declared_before"] == "not_placed"


def test_the_rate_limiters_wait_comes_before_the_claim(sandbox, sandbox_customer, operator, capture_enqueues, monkeypatch):
    """The limiter's wait has no upper bound: it must not sit inside a claimed send's lease."""
    intent = resting_buy(sandbox_customer, operator, reason="slow send")
    limiter = get_client().limiter
    seen: list[str] = []
    original = type(limiter).acquire

    def acquire(self, customer_id):
        seen.append(OrderIntent.objects.get(pk=intent.pk).status)
        return original(self, customer_id)

    monkeypatch.setattr(type(limiter), "acquire", acquire)
    result = services.submit_intent(intent=intent, actor=operator)
    assert result.intent.status == OrderIntent.Status.PLACED
    assert seen == [OrderIntent.Status.NEW]  # one token, taken before the intent was claimed
