"""Every attempt leaves a row, nothing secret lands in it, and a rollback cannot erase it."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from parsec import calllog, errors
from parsec.models import OutboundCall
from parsec.tasks import prune_call_log
from parsec.types import FeeAuthorization
from tests.parsec.sending import send_order
from tests.scripted_parsec import BUILDER_KEY, Reply, error, make_client

USER_KEY = "pk_live_enduser_TOPSECRET_7c21"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
CLOB_SECRET = "clob-secret-XYZZY"
SIGNATURE = "0x" + "5a" * 65


def test_each_attempt_is_logged_with_status_latency_and_rate_limit_headers(gateway, parsec_server):
    parsec_server.script(
        "GET", "/fills",
        error(429, "rate_limit_exceeded", "rate limit exceeded", **{"Retry-After": "0"}),
        Reply(200, [], headers={"x-ratelimit-user-limit": "10", "x-ratelimit-user-remaining": "9", "x-ratelimit-monthly-remaining": "4999"}),
    )
    gateway.list_fills(customer_id="cust-9", exchange="kalshi", market_id="K-1", limit=50)
    first, second = OutboundCall.objects.order_by("attempt")
    assert (first.method, first.path_template, first.customer_id, first.exchange) == ("GET", "/fills", "cust-9", "kalshi")
    assert first.path == "/api/v1/fills?exchange=kalshi&market_id=K-1&limit=50"
    assert (first.status_code, first.error_code, first.error_class, first.retry_after, first.attempt) == (429, "rate_limit_exceeded", "RateLimited", 0.0, 1)
    assert (second.status_code, second.error_code, second.attempt) == (200, "", 2)
    assert second.rate_limit == {"x-ratelimit-user-limit": "10", "x-ratelimit-user-remaining": "9", "x-ratelimit-monthly-remaining": "4999"}
    assert second.latency_ms >= 0 and second.created_at <= timezone.now()


def test_a_network_failure_is_logged_without_a_status(gateway, parsec_server):
    parsec_server.script("POST", "/orders", Reply(reset=True))
    with pytest.raises(errors.ParsecConnectionError):
        send_order(gateway, customer_id="c", exchange="kalshi", market_id="K", outcome="Yes", side="buy", price=Decimal("0.5"), size=Decimal(1))
    (row,) = OutboundCall.objects.all()
    assert row.status_code is None and row.error_code == "connection_error"


def test_nothing_secret_reaches_the_call_log(gateway, parsec_server):
    user = {"customer_id": "cust-1", "external_id": "e", "api_key": USER_KEY, "tier": "free", "linked_exchanges": [], "fee_escrow_enabled": False}
    parsec_server.script("GET", "/builder/users/cust-1", user)
    parsec_server.script("POST", "/builder/onboard", {"customer_id": "cust-1", "exchange": "polymarket", "mode": "self", "status": "complete", "linked_exchanges": [], "steps_completed": []})
    parsec_server.script("POST", "/orders", error(400, "bad_request", "fee_auth deadline has passed"))
    gateway.get_user(customer_id="cust-1")
    gateway.onboard(customer_id="cust-1", exchange="polymarket", mode="self",
                    credentials={"clob_api_key": "k", "clob_api_secret": CLOB_SECRET, "clob_api_passphrase": "p", "private_key": PRIVATE_KEY})
    fee_auth = FeeAuthorization(order_id="0x" + "ab" * 32, payer="0x" + "2" * 40, fee_amount=100000, deadline=1, signature=SIGNATURE)
    with pytest.raises(errors.BadRequest):
        send_order(gateway, customer_id="cust-1", exchange="polymarket", market_id="0xabc", outcome="Yes", side="buy", price=Decimal("0.5"),
                             size=Decimal(10), fee_auth=fee_auth, credentials={"private_key": PRIVATE_KEY})
    rows = list(OutboundCall.objects.values())
    assert len(rows) == 3
    dump = json.dumps(rows, default=str)
    for secret in (BUILDER_KEY, USER_KEY, PRIVATE_KEY, CLOB_SECRET, SIGNATURE, SIGNATURE[2:20]):
        assert secret not in dump


def test_a_rolled_back_transaction_does_not_erase_the_call_row(transactional_db, parsec_server):
    gateway = make_client(parsec_server.url)
    parsec_server.script("GET", "/exchanges", [])
    with pytest.raises(RuntimeError), transaction.atomic():
        gateway.list_exchanges()
        raise RuntimeError("the caller's work failed after the call")
    calllog.flush()
    assert OutboundCall.objects.filter(path_template="/exchanges").count() == 1


def test_prune_deletes_only_rows_older_than_the_retention(db, settings):
    settings.PARSEC_CALL_LOG_RETENTION_DAYS = 14
    now = timezone.now()
    for age in (1, 13, 15, 40):
        OutboundCall.objects.create(created_at=now - timedelta(days=age), method="GET", path_template="/ping", path="/api/v1/ping")
    assert prune_call_log() == 2
    assert sorted((now - c).days for c in OutboundCall.objects.values_list("created_at", flat=True)) == [1, 13]


def test_the_call_log_admin_lists_rows_and_allows_no_writes(administrator, client):
    OutboundCall.objects.create(created_at=timezone.now(), method="GET", path_template="/ping", path="/api/v1/ping", status_code=200)
    client.force_login(administrator)
    response = client.get("/admin/parsec/outboundcall/?status_code=200")
    assert response.status_code == 200
    assert b"/api/v1/ping" in response.content
    assert client.get("/admin/parsec/outboundcall/add/").status_code == 403
    row = OutboundCall.objects.get()
    assert client.post(f"/admin/parsec/outboundcall/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OutboundCall.objects.count() == 1
