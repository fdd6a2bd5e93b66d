"""Hole 1 of issue 13: a kill switch covers orders in flight. An intent being sent (or unknown)
when the switch is engaged is cancelled the moment its order is known to be placed, audited,
and counted on the switch: no order stays open at Parsec in a frozen scope."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from orders import services
from orders.models import KillSwitch, OrderIntent
from tests.orders.in_flight import resting_buy, send_in_background, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status_at_parsec(sandbox, customer, order_id: str) -> str:
    orders = sandbox.sdk().orders.list(exchange="polymarket", status="all",
                                       extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)})
    return next(str(o.status) for o in orders if o.id == order_id)


def test_a_switch_engaged_while_an_order_is_being_sent_cancels_it_once_placed(
        client, sandbox, sandbox_customer, operator, second_operator, fault, capture_enqueues):
    fault("latency", latency_ms=2000)
    intent = resting_buy(sandbox_customer, operator)
    thread, outcome = send_in_background(intent, operator)
    wait_for(intent, OrderIntent.Status.SENDING)
    switch, results = services.engage_kill_switch(scope=KillSwitch.Scope.CUSTOMER, actor=second_operator,
                                                  reason="drill", customer=sandbox_customer)
    assert results == []  # nothing was open yet: the order is still on its way
    thread.join(timeout=30)
    assert "error" not in outcome, outcome
    intent.refresh_from_db()
    switch.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED
    assert switch.cancel_summary["cancelled"] == 1 and switch.cancel_summary["in_flight"] == 1
    assert status_at_parsec(sandbox, sandbox_customer, intent.parsec_order_id) == "cancelled"
    event = AuditEvent.objects.get(action="order.cancel.killswitch")
    assert event.outcome == "ok" and event.request["order_id"] == intent.parsec_order_id
    client.force_login(second_operator)
    page = client.get(reverse("admin:orders_killswitch_change", args=[switch.pk])).content.decode()
    assert "On its way when frozen" in page and "1 order being sent or unknown; 1 caught and cancelled once placed" in page


def test_an_unknown_intent_found_placed_after_the_switch_is_cancelled(
        sandbox, sandbox_customer, operator, second_operator, fault, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    fault("drop")  # Parsec places the order, the answer is lost
    intent = services.submit_intent(intent=resting_buy(sandbox_customer, operator), actor=operator).intent
    assert intent.status == OrderIntent.Status.UNKNOWN
    switch, _ = services.engage_kill_switch(scope=KillSwitch.Scope.CUSTOMER, actor=second_operator, reason="drill",
                                            customer=sandbox_customer)
    intent = services.reconcile_intent(intent=intent)
    switch.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED
    assert switch.cancel_summary["cancelled"] == 1
    assert status_at_parsec(sandbox, sandbox_customer, intent.parsec_order_id) == "cancelled"


def test_an_order_that_landed_while_frozen_is_cancelled_even_once_the_switch_is_released(
        sandbox, sandbox_customer, operator, second_operator, fault, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    fault("drop")
    intent = services.submit_intent(intent=resting_buy(sandbox_customer, operator), actor=operator).intent
    switch, _ = services.engage_kill_switch(scope=KillSwitch.Scope.BUILDER, actor=second_operator, reason="drill")
    services.release_kill_switch(switch=switch, actor=second_operator, reason="over")
    intent = services.reconcile_intent(intent=intent)  # the answer is known only now
    switch.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED and switch.cancel_summary["cancelled"] == 1
    assert status_at_parsec(sandbox, sandbox_customer, intent.parsec_order_id) == "cancelled"
    # an order sent after the release is not touched
    later = services.submit_intent(intent=resting_buy(sandbox_customer, operator), actor=operator).intent
    assert later.status == OrderIntent.Status.PLACED
    assert status_at_parsec(sandbox, sandbox_customer, later.parsec_order_id) == "open"


@pytest.mark.django_db
def test_a_switch_whose_cancels_run_after_its_release_leaves_orders_placed_since_alone(trading_customer, operator):
    """A builder-wide switch's cancels are a worker's task; if the worker died and the task comes
    back after the release, it cancels only what the mirror knew before the release."""
    from django.utils import timezone

    from orders.models import Order
    from tests import factories as f

    market = f.market("polymarket")
    before = f.order(trading_customer, market, status="open")
    switch = KillSwitch.objects.create(scope=KillSwitch.Scope.BUILDER, reason="drill", engaged_by=operator)
    services.release_kill_switch(switch=switch, actor=operator)
    after = f.order(trading_customer, market, status="open")
    Order.objects.filter(pk=after.pk).update(first_seen_at=timezone.now())
    switch.refresh_from_db()
    targets = set(services.orders_to_cancel(seen_before=switch.released_at).values_list("pk", flat=True))
    assert targets == {before.pk}
