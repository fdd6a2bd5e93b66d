"""Exactly-once writes by Idempotency-Key: replay, 422 on a different body, 409 in flight, resume."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api import idempotency
from api.models import IdempotencyRecord
from orders.models import Order
from tests.api.conftest import new_key
from tests.factories import mirror_rows

pytestmark = pytest.mark.django_db

PLACE = "/api/order-intents/place/"


@pytest.fixture
def filled_order(db):
    order = mirror_rows(1)["orders"][0]
    Order.objects.filter(pk=order.pk).update(status=Order.Status.FILLED, filled=order.size)
    return order


def cancel(client, order, key, reason="done"):
    return client.post(f"/api/orders/{order.pk}/cancel/", {"reason": reason}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_write_without_a_key_is_refused(ops_api, filled_order):
    response = ops_api.post(f"/api/orders/{filled_order.pk}/cancel/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert "Idempotency-Key" in response.json()["error"]["fields"]


def test_a_malformed_key_is_refused(ops_api, filled_order):
    response = cancel(ops_api, filled_order, "has spaces in it")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"


def test_same_key_same_body_replays_the_first_response(ops_api, filled_order):
    key = new_key()
    first = cancel(ops_api, filled_order, key)
    assert first.status_code == 409 and first.json()["error"]["code"] == "order_not_live"
    assert "Idempotent-Replayed" not in first
    # Even once the order changes, the replay is the first answer, not a new one.
    Order.objects.filter(pk=filled_order.pk).update(status=Order.Status.OPEN, filled=0)
    second = cancel(ops_api, filled_order, key)
    assert second["Idempotent-Replayed"] == "true"
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert IdempotencyRecord.objects.get(key=key).status == "completed"


def test_same_key_with_a_different_body_is_a_422(ops_api, filled_order):
    key = new_key()
    cancel(ops_api, filled_order, key, reason="first")
    response = cancel(ops_api, filled_order, key, reason="second")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_same_key_on_another_endpoint_is_a_422(ops_api, filled_order):
    key = new_key()
    cancel(ops_api, filled_order, key)
    response = ops_api.post(PLACE, {"reason": "done"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 422


def test_keys_belong_to_their_caller(ops_api, issue, filled_order):
    from rest_framework.test import APIClient

    key = new_key()
    cancel(ops_api, filled_order, key, reason="mine")
    _, plain = issue("Operations")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    response = cancel(other, filled_order, key, reason="theirs")
    assert response.status_code == 409 and "Idempotent-Replayed" not in response
    assert response.json()["error"]["code"] == "order_not_live"


def test_a_request_in_flight_makes_the_second_one_wait_with_409(ops_api, filled_order):
    key = new_key()
    path = f"/api/orders/{filled_order.pk}/cancel/"
    body = {"reason": "done"}
    # Claim the key exactly as the first request would have, then "crash" before finishing.
    request = APIRequestFactory().post(path, body, format="json")
    drf_request = Request(request, parsers=[JSONParser()])
    record, replay = idempotency.claim(
        principal=f"token:{ops_api.token.pk}", key=key, method="POST", path=path,
        request_hash=idempotency.request_fingerprint(drf_request),
    )
    assert not replay
    response = cancel(ops_api, filled_order, key)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_flight"
    assert int(response["Retry-After"]) >= 1

    # Once the lease has passed, a retry takes the claim over and runs.
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    resumed = cancel(ops_api, filled_order, key)
    assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "order_not_live"
    assert IdempotencyRecord.objects.get(pk=record.pk).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_run_the_work_once(ops_api, filled_order, monkeypatch):
    """Two threads (two DB connections) send the same request at once: one runs, one gets 409."""
    from orders.api import views

    entered, release = threading.Event(), threading.Event()
    original = views.CancelOrdersView.cancel_one.__wrapped__
    runs = []

    def slow_cancel(self, request, pk=None):
        runs.append(pk)
        entered.set()
        release.wait(10)
        return original(self, request, pk=pk)

    wrapped = idempotency.idempotent(slow_cancel)
    monkeypatch.setattr(views.CancelOrdersView, "cancel_one", wrapped)
    key = new_key()
    results = {}

    def first():
        try:
            results["first"] = cancel(ops_api, filled_order, key)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    results["second"] = cancel(ops_api, filled_order, key)
    release.set()
    thread.join(10)
    assert results["second"].status_code == 409
    assert results["second"].json()["error"]["code"] == "idempotency_in_flight"
    assert results["first"].status_code == 409 and results["first"].json()["error"]["code"] == "order_not_live"
    assert len(runs) == 1


def test_keys_are_kept_at_least_24_hours_and_pruned_after(ops_api, filled_order, settings):
    key = new_key()
    cancel(ops_api, filled_order, key)
    record = IdempotencyRecord.objects.get(key=key)
    assert record.expires_at - record.created_at >= timedelta(hours=24)
    assert idempotency.prune(now=record.created_at + timedelta(hours=23, minutes=59)) == 0
    assert cancel(ops_api, filled_order, key)["Idempotent-Replayed"] == "true"
    assert idempotency.prune(now=record.expires_at + timedelta(seconds=1)) == 1
    assert not IdempotencyRecord.objects.filter(key=key).exists()


def test_a_validation_failure_is_stored_and_replayed_too(ops_api):
    key = new_key()
    body = {"customer": "nobody", "market": "nothing", "outcome": "Yes", "side": "buy", "price": "0.5", "size": "10"}
    first = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 422
    assert first.json()["error"]["code"] == "unknown_reference"
    assert set(first.json()["error"]["fields"]) == {"customer"}
    again = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()


def test_the_key_covers_the_body_as_sent(ops_api):
    """"0.5" and "0.50" are the same price but not the same request: a client must resend byte-equal JSON."""
    key = new_key()
    body = {"customer": "nobody", "market": "nothing", "outcome": "Yes", "side": "buy", "price": "0.5", "size": "10"}
    ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert ops_api.post(PLACE, {**body, "price": "0.50"}, format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 422


@pytest.mark.parametrize(("field", "value"), [("price", 0.5), ("size", 10), ("customer", 1), ("reason", 7), ("side", "hold")])
def test_a_body_of_the_wrong_json_type_is_a_400_naming_the_field(ops_api, field, value):
    body = {"customer": "nobody", "market": "nothing", "outcome": "Yes", "side": "buy", "price": "0.5", "size": "10",
            field: value}
    response = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
