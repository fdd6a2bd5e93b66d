"""The API's intent key is the client's Idempotency-Key under a secret of ours and the principal's
(hole 3 of issue 13): a key predicted from the token's id plants nothing another request will place."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest

pytestmark = pytest.mark.django_db(transaction=True)

PLACE = "/api/order-intents/place/"


def test_an_intent_planted_under_a_predicted_key_is_never_placed_for_another_request(
        ops_api, sandbox, sandbox_customer, operator, capture_enqueues):
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    size = max(market.min_order_size or Decimal(1), Decimal(10))
    predicted = uuid.uuid5(uuid.NAMESPACE_URL, f"parsec-backoffice:token:{ops_api.token.pk}:client-order-42")
    planted = services.create_intent(actor=operator, key=predicted, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=market, outcome="No", side="buy", price=Decimal("0.90"), size=size, reason="planted"))
    response = ops_api.post(PLACE, {
        "customer": sandbox_customer.external_id, "market": market.parsec_id, "outcome": "Yes", "side": "buy",
        "price": "0.10", "size": str(size), "reason": "integration order",
    }, format="json", HTTP_IDEMPOTENCY_KEY="client-order-42")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"] != planted.pk
    assert (body["outcome"], body["side"], Decimal(body["price"]), Decimal(body["size"])) == ("Yes", "buy", Decimal("0.10"), size)
    planted.refresh_from_db()
    assert planted.status == OrderIntent.Status.NEW and planted.parsec_order_id is None
