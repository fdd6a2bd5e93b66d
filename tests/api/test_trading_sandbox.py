"""Trading through the API against the running sandbox: the admin's services, exactly once, on record."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from orders import messages
from orders.models import Market, OrderIntent
from tests import factories as f
from tests.api.conftest import new_key

pytestmark = pytest.mark.django_db(transaction=True)

PLACE = "/api/order-intents/place/"


def resting_buy(customer, **overrides) -> dict:
    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()
    return {"customer": customer.external_id, "market": market.parsec_id, "outcome": "Yes", "side": "buy",
            "price": "0.05", "size": "10", "reason": "api test"} | overrides


def orders_at_sandbox(sandbox, customer) -> list:
    return list(sandbox.sdk().orders.list(exchange="polymarket", status="all",
                                          extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)}))


def test_place_once_and_replay_the_same_answer(ops_api, sandbox, sandbox_customer, capture_enqueues):
    key = new_key()
    first = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["status"] == "placed" and body["source"] == "api" and body["parsec_order_id"]
    again = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.json() == body
    assert [o.id for o in orders_at_sandbox(sandbox, sandbox_customer)] == [body["parsec_order_id"]]
    intent = OrderIntent.objects.get(pk=body["id"])
    assert intent.order.placed_by == "api_client" and intent.created_by == ops_api.token.service_user


def test_every_write_is_audited_with_the_tokens_identity(ops_api, sandbox_customer, capture_enqueues):
    response = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201
    event = AuditEvent.objects.filter(action="order.place").latest("seq")
    assert event.actor_name == ops_api.token.identity
    assert event.outcome == "ok" and event.customer_id == sandbox_customer.pk


def test_accept_then_drop_is_unknown_then_reconciled_through_the_api(ops_api, sandbox, sandbox_customer, fault, capture_enqueues):
    fault("drop")
    key = new_key()
    response = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 202, response.json()
    intent = response.json()
    assert intent["status"] == "unknown" and intent["parsec_order_id"] is None
    assert "being reconciled" in intent["message"]
    # Retrying the same request does not send a second order: it replays "unknown".
    retry = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert retry["Idempotent-Replayed"] == "true" and retry.json()["status"] == "unknown"
    # A new key for the same order is refused while the first is unresolved.
    duplicate = ops_api.post(PLACE, resting_buy(sandbox_customer), format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_unresolved_intent"
    at_parsec = orders_at_sandbox(sandbox, sandbox_customer)
    assert len(at_parsec) == 1
    reconciled = ops_api.post(f"/api/order-intents/{intent['id']}/reconcile/", {}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert reconciled.status_code == 200
    assert reconciled.json()["status"] == "placed" and reconciled.json()["parsec_order_id"] == at_parsec[0].id
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1


def test_a_crashed_request_retried_with_its_key_resumes_its_intent(ops_api, sandbox, sandbox_customer, capture_enqueues):
    """The first attempt claimed its key, wrote its intent and died before sending or answering:
    once the lease has passed, the retry takes the claim over and sends that same intent, once."""
    from datetime import timedelta

    from django.utils import timezone

    from api import idempotency
    from api.models import IdempotencyRecord
    from orders import services
    from orders.api.views import _intent_key
    from orders.services import OrderRequest

    key = new_key()
    body = resting_buy(sandbox_customer)
    principal = f"token:{ops_api.token.pk}"
    caller = type("Caller", (), {"auth": ops_api.token, "user": ops_api.token.service_user})()
    hashed = idempotency.request_fingerprint(type("R", (), {"method": "POST", "path": PLACE, "data": body})())
    record, _ = idempotency.claim(principal=principal, key=key, method="POST", path=PLACE, request_hash=hashed)
    services.create_intent(key=_intent_key(caller, key), actor=ops_api.token.service_user, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=Market.objects.get(parsec_id=body["market"]), outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="api test", source="api"))
    early = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert early.status_code == 409  # the lease still runs: the first attempt might be alive
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    response = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.json()
    assert OrderIntent.objects.filter(customer=sandbox_customer).count() == 1
    assert OrderIntent.objects.get(key=_intent_key(caller, key)).status == "placed"
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1
    assert IdempotencyRecord.objects.get(pk=record.pk).attempts == 2


def test_a_parsec_refusal_has_the_admins_code_and_message(ops_api, sandbox_customer, capture_enqueues):
    from customers.models import ExchangeLink

    # Linked locally, never onboarded at Parsec: Parsec answers 403 credentials_required.
    ExchangeLink.objects.get_or_create(customer=sandbox_customer, exchange="kalshi", defaults={"mode": "self"})

    f.balance(sandbox_customer, "kalshi", "1000")
    market = Market.objects.filter(exchange="kalshi", market_type="binary", status="active").order_by("pk").first()
    response = ops_api.post(PLACE, resting_buy(sandbox_customer, market=market.parsec_id), format="json",
                            HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    intent = OrderIntent.objects.get(pk=response.json()["intent"]["id"])
    assert error["code"] == intent.error_code == "credentials_required"
    assert error["message"] == messages.intent_status_message(intent)
    assert response.json()["intent"]["status"] == "rejected"


def test_validation_errors_name_the_fields_like_the_admin_form(ops_api, sandbox_customer):
    response = ops_api.post(PLACE, resting_buy(sandbox_customer, price="0.995", outcome="Maybe"), format="json",
                            HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_order"
    assert {"price", "outcome"} <= set(error["fields"])
    assert not OrderIntent.objects.filter(customer=sandbox_customer).exists()


def test_cancel_one_and_cancel_all(ops_api, sandbox, sandbox_customer, capture_enqueues):
    placed = [
        ops_api.post(PLACE, resting_buy(sandbox_customer, price=price), format="json", HTTP_IDEMPOTENCY_KEY=new_key()).json()
        for price in ("0.05", "0.06", "0.07")
    ]
    order_ids = [OrderIntent.objects.get(pk=p["id"]).order_id for p in placed]
    one = ops_api.post(f"/api/orders/{order_ids[0]}/cancel/", {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert one.status_code == 200 and [r["result"] for r in one.json()["results"]] == ["cancelled"]
    again = ops_api.post(f"/api/orders/{order_ids[0]}/cancel/", {"reason": "r"}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_not_live"
    rest = ops_api.post("/api/orders/cancel-all/", {"customer": str(sandbox_customer.parsec_customer_id), "reason": "r"},
                        format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert rest.status_code == 200
    assert sorted(r["order"] for r in rest.json()["results"]) == sorted(order_ids[1:])
    assert {o.status for o in orders_at_sandbox(sandbox, sandbox_customer)} == {"cancelled"}


def test_compliance_tokens_cannot_trade(compliance_api, sandbox_customer):
    for url, body in [(PLACE, resting_buy(sandbox_customer)), ("/api/orders/cancel-all/", {"customer": "x"}),
                      ("/api/order-intents/1/reconcile/", {}), ("/api/orders/1/cancel/", {})]:
        response = compliance_api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"
    assert not OrderIntent.objects.exists()


def test_a_staff_session_write_needs_its_csrf_token(operator, sandbox_customer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(PLACE, resting_buy(sandbox_customer), content_type="application/json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
