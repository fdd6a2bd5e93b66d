"""Lost answers injected by the sandbox: unknown, never failed; reconciled to what really happened."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest

pytestmark = pytest.mark.django_db(transaction=True)


def send(customer, operator) -> OrderIntent:
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="r"))
    return services.submit_intent(intent=intent, actor=operator).intent


def orders_at_sandbox(sandbox, customer) -> list:
    return list(sandbox.sdk().orders.list(exchange="polymarket", status="all",
                                          extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)}))


def assert_first_check_within_seconds(enqueued, intent):
    name, args, countdown = enqueued[0]
    assert name == "orders.tasks.reconcile_intent_task" and args == (str(intent.key),)
    assert countdown <= 5


def test_accept_then_drop_is_unknown_then_reconciled_to_placed(sandbox, sandbox_customer, operator, fault, capture_enqueues):
    fault("drop")
    intent = send(sandbox_customer, operator)
    assert intent.status == OrderIntent.Status.UNKNOWN and intent.parsec_order_id is None
    assert "being reconciled" in intent.error_message
    assert_first_check_within_seconds(capture_enqueues, intent)
    at_parsec = orders_at_sandbox(sandbox, sandbox_customer)
    assert len(at_parsec) == 1  # Parsec did place it
    intent = services.reconcile_intent(intent=intent)
    assert intent.status == OrderIntent.Status.PLACED and intent.parsec_order_id == at_parsec[0].id
    assert intent.order is not None and intent.order.placed_by == "operator"


def test_a_timeout_after_the_work_is_reconciled_to_placed(sandbox, sandbox_customer, operator, fault, capture_enqueues, settings):
    settings.PARSEC_READ_TIMEOUT = 1.0
    fault("timeout", latency_ms=2500)
    intent = send(sandbox_customer, operator)
    assert intent.status == OrderIntent.Status.UNKNOWN and intent.error_code == "timeout"
    assert services.reconcile_intent(intent=intent).status == OrderIntent.Status.PLACED


def test_a_connection_reset_is_unknown_then_reconciled(sandbox, sandbox_customer, operator, fault, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    fault("reset")
    intent = send(sandbox_customer, operator)
    assert intent.status == OrderIntent.Status.UNKNOWN
    # the sandbox resets before doing anything: nothing was placed, and reconciliation proves it
    assert orders_at_sandbox(sandbox, sandbox_customer) == []
    assert services.reconcile_intent(intent=intent).status == OrderIntent.Status.NOT_PLACED


def test_a_503_is_unknown_then_reconciled_to_not_placed(sandbox, sandbox_customer, operator, fault, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    fault("error_503")
    intent = send(sandbox_customer, operator)
    assert intent.status == OrderIntent.Status.UNKNOWN and intent.error_code == "unavailable"
    assert "we do not know yet" in intent.error_message
    assert services.reconcile_intent(intent=intent).status == OrderIntent.Status.NOT_PLACED


def test_an_identical_order_is_refused_while_the_first_is_unknown(sandbox, sandbox_customer, operator, fault, capture_enqueues):
    fault("drop")
    first = send(sandbox_customer, operator)
    assert first.status == OrderIntent.Status.UNKNOWN
    with pytest.raises(services.TradingError) as caught:
        send(sandbox_customer, operator)
    assert caught.value.code == "duplicate_unresolved_intent"
    services.reconcile_intent(intent=first)
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1


def test_a_429_is_not_placed_and_never_resent(sandbox, sandbox_customer, operator, fault, capture_enqueues):
    fault("rate_limit")
    intent = send(sandbox_customer, operator)
    assert intent.status == OrderIntent.Status.NOT_PLACED and intent.error_code == "rate_limit_exceeded"
    assert not capture_enqueues
    assert orders_at_sandbox(sandbox, sandbox_customer) == []


def test_the_reconcile_now_button_resolves_an_unknown_intent(client, sandbox, sandbox_customer, operator, fault, capture_enqueues):
    from django.urls import reverse

    fault("drop")
    intent = send(sandbox_customer, operator)
    client.force_login(operator)
    page = client.get(reverse("admin:orders_orderintent_detail", args=[intent.key]))
    assert "Reconcile now" in page.content.decode()
    response = client.post(reverse("admin:orders_orderintent_reconcile", args=[intent.key]), follow=True)
    assert "Placed at Parsec as order" in response.content.decode()
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED


def test_every_step_is_on_record(sandbox, sandbox_customer, operator, fault, capture_enqueues):
    from audit.models import AuditEvent

    fault("drop")
    intent = send(sandbox_customer, operator)
    services.reconcile_intent(intent=intent, actor=operator)
    events = list(AuditEvent.objects.filter(customer=sandbox_customer).order_by("seq"))
    assert [(e.action, e.outcome) for e in events] == [("order.place", "unknown"), ("order.reconcile", "ok")]
    assert events[0].actor == operator and events[0].request["intent"] == str(intent.key)
    assert events[1].response["via"] == "reconcile"
