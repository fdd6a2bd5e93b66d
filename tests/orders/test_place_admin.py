"""The trading pages: Operations can use them; Compliance gets 403 on every one; the form flows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from approvals import services as approvals
from approvals.models import ApprovalRequest
from orders import services
from orders.forms import signed_intent_key
from orders.models import KillSwitch, OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def intent(trading_customer, operator):
    market = f.market("polymarket")
    return services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="r"))


def trading_urls(customer, intent, approval, switch) -> list[str]:
    return [
        reverse("admin:orders_orderintent_place") + f"?customer={customer.pk}",
        reverse("admin:orders_orderintent_market_search") + "?q=test",
        reverse("admin:orders_orderintent_book") + f"?customer={customer.pk}",
        reverse("admin:orders_orderintent_cancel") + f"?customer={customer.pk}",
        reverse("admin:orders_orderintent_confirm", args=[intent.key]),
        reverse("admin:orders_orderintent_reconcile", args=[intent.key]),
        reverse("admin:orders_killswitch_engage") + "?scope=builder&reason=x",
        reverse("admin:orders_killswitch_release", args=[switch.pk]),
        reverse("admin:approvals_approvalrequest_decide", args=[approval.pk]),
    ]


@pytest.fixture
def approval(operator):
    approvals.register("test.touch", approved=lambda request, actor: {"ok": True})
    yield approvals.request_approval(action="test.touch", payload={}, actor=operator)
    approvals.ACTIONS.pop("test.touch", None)


@pytest.fixture
def switch(operator):
    return KillSwitch.objects.create(scope="builder", reason="drill", engaged_by=operator)


def test_compliance_gets_403_on_every_trading_page(reviewer_client, trading_customer, intent, approval, switch):
    for url in trading_urls(trading_customer, intent, approval, switch):
        for method in ("get", "post"):
            if method == "get" and "decide" in url:
                continue  # reading a request is allowed; deciding is not (checked on POST)
            response = getattr(reviewer_client, method)(url, {"decision": "approve", "reason": "x", "confirmed": "1", "action": "send"})
            assert response.status_code == 403, (method, url, response.status_code)
    intent.refresh_from_db()
    approval.refresh_from_db()
    switch.refresh_from_db()
    assert intent.status == OrderIntent.Status.NEW and approval.status == ApprovalRequest.Status.PENDING and switch.is_engaged


def test_operations_opens_the_order_form_from_a_customer(operator_client, trading_customer):
    response = operator_client.get(reverse("admin:orders_orderintent_place") + f"?customer={trading_customer.pk}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Review the order" in body and "Fee escrow" in body and 'name="key"' in body


def test_the_market_search_finds_by_title(operator_client):
    f.market("polymarket", question="Will the comet hit Jupiter?")
    f.market("kalshi", question="Will it rain in Paris?")
    response = operator_client.get(reverse("admin:orders_orderintent_market_search"), {"q": "comet", "exchange": "polymarket"})
    assert "comet" in response.content.decode() and "Paris" not in response.content.decode()


def test_a_form_error_is_shown_next_to_its_field_and_nothing_is_written(operator_client, operator, trading_customer):
    market = f.market("polymarket")
    response = operator_client.post(reverse("admin:orders_orderintent_place"), {
        "key": signed_intent_key(operator), "customer": trading_customer.pk, "exchange": "polymarket", "market": market.pk,
        "outcome": "Yes", "side": "buy", "price": "0.555", "size": "10", "order_type": "gtc", "reason": "r",
    })
    assert response.status_code == 200
    assert "tick size" in response.content.decode()
    assert not OrderIntent.objects.exists()


def test_submitting_the_form_twice_writes_one_intent_and_shows_the_confirmation(operator_client, operator, trading_customer):
    market = f.market("polymarket")
    data = {"key": signed_intent_key(operator), "customer": trading_customer.pk, "exchange": "polymarket", "market": market.pk,
            "outcome": "Yes", "side": "buy", "price": "0.40", "size": "10", "order_type": "gtc", "reason": "client asked"}
    first = operator_client.post(reverse("admin:orders_orderintent_place"), data)
    second = operator_client.post(reverse("admin:orders_orderintent_place"), data)
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"]
    assert OrderIntent.objects.count() == 1
    confirm = operator_client.get(first["Location"])
    body = confirm.content.decode()
    assert "4.00 USDC" in body and "Send the order to Parsec" in body and "Free balance after" in body


def test_the_intent_page_renders_for_compliance_read_only(reviewer_client, intent):
    response = reviewer_client.get(reverse("admin:orders_orderintent_detail", args=[intent.key]))
    assert response.status_code == 200
    assert "Reconcile now" not in response.content.decode()


def test_the_customer_page_offers_trading_buttons_to_operations_only(client, operator, reviewer, trading_customer):
    url = reverse("admin:customers_customer_change", args=[trading_customer.pk])
    client.force_login(operator)
    assert "Place an order" in client.get(url).content.decode()
    client.force_login(reviewer)
    assert "Place an order" not in client.get(url).content.decode()


def test_the_customer_button_opens_the_order_form(operator_client, trading_customer):
    response = operator_client.get(reverse("admin:customers_customer_place_order", args=[trading_customer.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_orderintent_place") + f"?customer={trading_customer.pk}"


def test_cancel_selected_orders_leads_to_the_confirmation(operator_client, trading_customer):
    from django.utils import timezone

    from orders.models import Order

    order = Order.objects.create(
        parsec_order_id="order_x1", exchange="polymarket", customer=trading_customer, market_native_id="0xabc",
        outcome="Yes", side="buy", price=Decimal("0.10"), size=Decimal("10"), status="open", created_at=timezone.now(),
    )
    response = operator_client.post(reverse("admin:orders_order_changelist"),
                                    {"action": "cancel_selected", "_selected_action": [order.pk]})
    assert response.status_code == 302 and f"orders={order.pk}" in response["Location"]
    listing = operator_client.get(response["Location"])
    assert "order_x1" in listing.content.decode() and "Cancel 1 order" in listing.content.decode()
