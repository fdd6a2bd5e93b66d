"""Intent keys are bound to their principal and their request (hole 3 of issue 13): a key reused
with another body or by another principal is refused, never answered with someone else's intent,
and the admin form's key is the server's, signed, not the browser's."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from orders import services
from orders.models import OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db


def order(customer, market, **overrides) -> dict:
    return {"customer": customer, "exchange": "polymarket", "market": market, "outcome": "Yes", "side": "buy",
            "price": Decimal("0.40"), "size": Decimal("10"), "reason": "client asked"} | overrides


def test_a_key_reused_with_another_body_is_refused(trading_customer, operator):
    market = f.market("polymarket")
    key = uuid.uuid4()
    first = services.create_intent(actor=operator, key=key, request=OrderRequest(**order(trading_customer, market)))
    with pytest.raises(services.TradingError) as refused:
        services.create_intent(actor=operator, key=key, request=OrderRequest(**order(trading_customer, market, outcome="No", price=Decimal("0.90"))))
    assert (refused.value.code, refused.value.kind) == ("intent_key_conflict", "conflict")
    assert OrderIntent.objects.get() == first and first.outcome == "Yes"


def test_a_key_reused_by_another_principal_is_refused(trading_customer, operator, second_operator):
    market = f.market("polymarket")
    key = uuid.uuid4()
    services.create_intent(actor=operator, key=key, request=OrderRequest(**order(trading_customer, market)))
    with pytest.raises(services.TradingError) as refused:
        services.create_intent(actor=second_operator, key=key, request=OrderRequest(**order(trading_customer, market)))
    assert (refused.value.code, refused.value.kind) == ("intent_key_conflict", "conflict")


def test_the_same_request_by_the_same_principal_names_the_same_intent(trading_customer, operator):
    market = f.market("polymarket")
    key = uuid.uuid4()
    first = services.create_intent(actor=operator, key=key, request=OrderRequest(**order(trading_customer, market)))
    assert services.create_intent(actor=operator, key=key, request=OrderRequest(**order(trading_customer, market))) == first


def test_the_admin_form_refuses_a_key_the_browser_made_up(operator_client, trading_customer):
    market = f.market("polymarket")
    response = operator_client.post(reverse("admin:orders_orderintent_place"), {
        "key": str(uuid.uuid4()), "customer": trading_customer.pk, "exchange": "polymarket", "market": market.pk,
        "outcome": "Yes", "side": "buy", "price": "0.40", "size": "10", "order_type": "gtc", "reason": "r",
    })
    assert response.status_code == 200
    assert "This form has expired or was altered" in response.content.decode()
    assert not OrderIntent.objects.exists()
