"""End-user writes through the API against the running sandbox: create, onboard (managed and self
with pass-through credentials), qps_limit, four-eyes deactivation; idempotency; Compliance 403;
and the credentials found nowhere in the database afterwards."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from api.models import IdempotencyRecord
from approvals.models import ApprovalRequest
from approvals.services import approve
from audit.models import AuditEvent
from customers.models import Customer, ExchangeLink
from parsec.client import get_client
from tests.api.conftest import new_key

pytestmark = pytest.mark.django_db(transaction=True)

FAKE_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}\n-----END PRIVATE KEY-----\n"


def post(client, url: str, body: dict, key: str | None = None):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key())


def create(client, **body):
    body = {"external_id": f"api-user-{uuid.uuid4().hex[:10]}", "email": "u@example.com"} | body
    return post(client, "/api/customers/", body)


@pytest.fixture
def end_user(parsec_settings, ops_api) -> Customer:
    response = create(ops_api)
    assert response.status_code == 201, response.json()
    return Customer.objects.get(pk=response.json()["id"])


def test_create_mirrors_the_user_audits_under_the_token_and_replays(parsec_settings, ops_api):
    key, body = new_key(), {"external_id": f"api-user-{uuid.uuid4().hex[:10]}", "email": "a@example.com"}
    first = post(ops_api, "/api/customers/", body, key)
    assert first.status_code == 201, first.json()
    customer = Customer.objects.get(pk=first.json()["id"])
    at_parsec = get_client().get_user(customer_id=str(customer.parsec_customer_id))
    assert at_parsec.external_id == body["external_id"] == first.json()["external_id"]
    assert first.json()["qps_limit"] == at_parsec.qps_limit
    event = AuditEvent.objects.get(action="customer.create")
    assert event.outcome == "ok" and event.actor_name == ops_api.token.identity

    again = post(ops_api, "/api/customers/", body, key)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Customer.objects.filter(external_id=body["external_id"]).count() == 1
    assert AuditEvent.objects.filter(action="customer.create").count() == 1

    other = post(ops_api, "/api/customers/", body | {"email": "b@example.com"}, key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

    duplicate = post(ops_api, "/api/customers/", body)  # a new key: the rule itself refuses
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "exists"
    assert duplicate.json()["error"]["fields"] == {"external_id": [duplicate.json()["error"]["message"]]}


def test_create_with_the_key_in_flight_is_a_409(parsec_settings, ops_api):
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from api import idempotency

    key, body = new_key(), {"external_id": f"api-user-{uuid.uuid4().hex[:10]}", "email": "", "eoa_address": None}
    drf_request = Request(APIRequestFactory().post("/api/customers/", body, format="json"), parsers=[JSONParser()])
    idempotency.claim(principal=f"token:{ops_api.token.pk}", key=key, method="POST", path="/api/customers/",
                      request_hash=idempotency.request_fingerprint(drf_request))
    response = post(ops_api, "/api/customers/", body, key)
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_in_flight"
    assert not Customer.objects.filter(external_id=body["external_id"]).exists()


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"email": "not-an-email"}, 422, "bad_email", "email"),
    ({"external_id": " "}, 422, "bad_external_id", "external_id"),
    ({"eoa_address": "0x123"}, 400, "invalid", "eoa_address"),
    ({"external_id": 12}, 400, "invalid", "external_id"),
])
def test_bad_create_input_is_refused_by_field(parsec_settings, ops_api, body, status, code, field):
    response = create(ops_api, **body)
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code and field in error["fields"]
    assert not Customer.objects.exists()


def test_managed_polymarket_onboarding(ops_api, end_user):
    response = post(ops_api, f"/api/customers/{end_user.pk}/onboard/", {"exchange": "polymarket", "mode": "managed"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] and "polymarket" in body["linked_exchanges"]
    assert body["customer"]["exchange_links"] == [
        {"exchange": "polymarket", "mode": "managed", "linked_at": body["customer"]["exchange_links"][0]["linked_at"]}]
    assert body["customer"]["wallets"], "the managed wallet is mirrored"
    assert ExchangeLink.objects.get(customer=end_user, exchange="polymarket").mode == ExchangeLink.Mode.MANAGED


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"exchange": "kalshi", "mode": "managed"}, 422, "managed_kalshi"),
    ({"exchange": "kalshi", "mode": "self", "credentials": {"api_key_id": "only"}}, 422, "missing_credentials"),
    ({"exchange": "polymarket", "mode": "managed", "credentials": {"clob_api_key": "k"}}, 422, "credentials_not_needed"),
    ({"exchange": "kalshi", "mode": "self", "credentials": {"api_key_id": "id", "private_key": "not a pem"}}, 422,
     "parsec_refused"),
    ({"exchange": "kalshi", "mode": "self", "credentials": {"api_key_id": "id", "password": "SECRET-VALUE"}}, 400,
     "invalid"),
])
def test_onboarding_refusals_carry_the_admins_codes(ops_api, end_user, body, status, code):
    response = post(ops_api, f"/api/customers/{end_user.pk}/onboard/", body)
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert "SECRET-VALUE" not in response.content.decode()
    assert not ExchangeLink.objects.filter(customer=end_user).exists()


def _rows_containing(table: str, needle: str) -> list:
    """Every row of ``table`` whose text (all columns) contains ``needle``: raw SQL, no model filtering."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        return [row for row in cursor.fetchall() if needle in " ".join(str(value) for value in row)]


def test_self_onboarding_credentials_are_found_nowhere_in_the_database(ops_api, end_user):
    secret_id, secret_pem_body = f"KEYID-{uuid.uuid4().hex}", f"CANARY{uuid.uuid4().hex}"
    key = new_key()
    body = {"exchange": "kalshi", "mode": "self",
            "credentials": {"api_key_id": secret_id, "private_key": FAKE_PEM.format(secret_pem_body)}}
    response = post(ops_api, f"/api/customers/{end_user.pk}/onboard/", body, key)
    assert response.status_code == 200, response.json()
    assert "kalshi" in get_client().get_user(customer_id=str(end_user.parsec_customer_id)).linked_exchanges
    assert ExchangeLink.objects.get(customer=end_user, exchange="kalshi").mode == ExchangeLink.Mode.SELF

    # Positive controls: the search sees the run (the key and the customer are in those tables).
    assert _rows_containing(IdempotencyRecord._meta.db_table, key)
    assert _rows_containing(AuditEvent._meta.db_table, "credential_fields")
    for secret in (secret_id, secret_pem_body):
        assert secret not in response.content.decode()
        for model in (IdempotencyRecord, AuditEvent, Customer, ExchangeLink):
            assert _rows_containing(model._meta.db_table, secret) == [], (model, secret)

    replay = post(ops_api, f"/api/customers/{end_user.pk}/onboard/", body, key)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == response.json()
    event = AuditEvent.objects.get(action="customer.onboard", outcome="ok")
    assert event.request["credential_fields"] == ["api_key_id", "private_key"]
    assert event.actor_name == ops_api.token.identity


def test_qps_limit_change_reports_the_pool_before_and_after(ops_api, end_user, qps_pool):
    qps_pool(1_000_000)
    old = end_user.qps_limit
    response = post(ops_api, f"/api/customers/{end_user.pk}/qps-limit/", {"qps_limit": old + 2, "reason": "busy"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["old_limit"] == old and body["new_limit"] == old + 2 == body["customer"]["qps_limit"]
    assert body["pool_after"]["total_allocated_qps"] - body["pool_before"]["total_allocated_qps"] == 2
    assert get_client().get_user(customer_id=str(end_user.parsec_customer_id)).qps_limit == old + 2

    for bad, status in (({"qps_limit": 0}, 400), ({"qps_limit": "5"}, 400), ({}, 400)):
        response = post(ops_api, f"/api/customers/{end_user.pk}/qps-limit/", bad)
        assert response.status_code == status and "qps_limit" in response.json()["error"]["fields"]


def test_deactivation_is_a_four_eyes_request_answered_with_202(ops_api, end_user, second_operator):
    url = f"/api/customers/{end_user.pk}/deactivate/"
    wrong = post(ops_api, url, {"confirm_external_id": "someone-else", "reason": "closed"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "confirmation_mismatch"
    assert "confirm_external_id" in wrong.json()["error"]["fields"]

    response = post(ops_api, url, {"confirm_external_id": end_user.external_id, "reason": "account closed"})
    assert response.status_code == 202, response.json()
    request = ApprovalRequest.objects.get(pk=response.json()["id"])
    assert response.json()["status"] == "pending" and request.action == "customer.deactivate"
    assert request.requested_by == ops_api.token.service_user
    end_user.refresh_from_db()
    assert end_user.is_active  # nothing reached Parsec yet
    assert get_client().get_user(customer_id=str(end_user.parsec_customer_id)).status != "deactivated"

    again = post(ops_api, url, {"confirm_external_id": end_user.external_id, "reason": "account closed"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_requested"

    approve(request=request, actor=second_operator, note="checked")
    end_user.refresh_from_db()
    assert end_user.status == Customer.Status.DEACTIVATED
    after = post(ops_api, f"/api/customers/{end_user.pk}/qps-limit/", {"qps_limit": 3})
    assert after.status_code == 409 and after.json()["error"]["code"] == "deactivated"


@pytest.mark.parametrize(("path", "body"), [
    ("/api/customers/", {"external_id": "never-created"}),
    ("/api/customers/{pk}/onboard/", {"exchange": "polymarket", "mode": "managed"}),
    ("/api/customers/{pk}/qps-limit/", {"qps_limit": 5}),
    ("/api/customers/{pk}/deactivate/", {"confirm_external_id": "x", "reason": "y"}),
])
def test_a_compliance_token_gets_403_on_every_end_user_write(compliance_api, trading_customer, path, body):
    before = AuditEvent.objects.count()
    response = post(compliance_api, path.format(pk=trading_customer.pk), body)
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert AuditEvent.objects.count() == before and not ApprovalRequest.objects.exists()
    assert not IdempotencyRecord.objects.exists()
