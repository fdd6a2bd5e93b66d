"""Fee escrow through the API: a signed fee_auth checked locally (orders.escrow) before placement,
with the admin's codes; escrow records read with filters, cursor pages and a flat query count;
the builder's escrow configuration."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from eth_account import Account

from audit.models import AuditEvent
from orders import escrow, fees
from orders.models import FeeEscrowRecord, Market, OrderIntent
from parsec.client import get_client
from tests import factories as f
from tests.api.conftest import new_key
from tests.fee_escrow import signed_by
from tests.sandbox_client import mine_chain, sync_catalogue, sync_one_customer

PLACE = "/api/order-intents/place/"
PRICE, SIZE = "0.05", "10"


@pytest.fixture
def alice(parsec_settings, sandbox, transactional_db):
    """The sandbox's demo customer whose wallet the sandbox can sign for (as the builder's app would)."""
    parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = sandbox.admin_key
    sync_catalogue()
    user = next(u for u in get_client().iter_users() if u.external_id == "demo-alice")
    return sync_one_customer(user.customer_id)


def market() -> Market:
    return Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()


def signed_fee(customer, *, fee: int | None = None, order_id: str | None = None, deadline: int | None = None) -> dict:
    """What the builder's app sends: the payer's signature over the fee (the sandbox's demo wallet signs)."""
    config = escrow.escrow_config()
    fee = fee if fee is not None else fees.fee_for_config(config=config, price=Decimal(PRICE), size=Decimal(SIZE))
    auth = get_client().sandbox_sign_fee_auth(address=customer.wallets.order_by("pk").first().address, fee_amount=fee,
                                              order_id=order_id or escrow.new_fee_order_id(), deadline=deadline).fee_auth
    return {"order_id": auth.order_id, "payer": auth.payer, "fee_amount": int(auth.fee_amount), "deadline": int(auth.deadline),
            "signature": auth.signature}


def place(client, customer, fee_auth: dict, key: str | None = None):
    body = {"customer": customer.external_id, "market": market().parsec_id, "outcome": "Yes", "side": "buy",
            "price": PRICE, "size": SIZE, "reason": "api escrow test", "fee_auth": fee_auth}
    return client.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key())


def test_a_signed_fee_is_checked_recorded_and_placed(ops_api, alice, settings):
    fee_auth = signed_fee(alice)
    key = new_key()
    response = place(ops_api, alice, fee_auth, key)
    assert response.status_code == 201, response.json()
    intent = OrderIntent.objects.get(pk=response.json()["id"])
    assert intent.status == OrderIntent.Status.PLACED and intent.fee_auth_order_id == fee_auth["order_id"].lower()
    record = FeeEscrowRecord.objects.get(intent=intent)
    assert record.state == FeeEscrowRecord.State.PULLED and record.fee_base_units == fee_auth["fee_amount"]
    # The pull is queued for the sandbox's next block (the check right after placing may not find it yet): mine it, check again.
    mine_chain(settings.PARSEC_API_BASE_URL, settings.PARSEC_SANDBOX_ADMIN_KEY)
    record = escrow.check_record(record=record)
    chain = escrow.chain_reader().fee_record(record.fee_order_id)
    assert (chain.state, chain.fee_amount) == (record.state, record.fee_base_units) and record.discrepancy == ""
    assert AuditEvent.objects.filter(action="escrow.authorise", outcome="ok").count() == 1
    assert fee_auth["signature"] not in response.content.decode()

    replay = place(ops_api, alice, fee_auth, key)
    assert replay["Idempotent-Replayed"] == "true" and FeeEscrowRecord.objects.count() == 1

    # The record through the API: list filtered by customer and state, and its detail.
    listed = ops_api.get(f"/api/escrow-records/?customer={alice.external_id}&state=pulled").json()["results"]
    assert [row["fee_order_id"] for row in listed] == [record.fee_order_id]
    detail = ops_api.get(f"/api/escrow-records/{record.pk}/").json()
    assert detail["intent_key"] == str(intent.key) and detail["fee_base_units"] == record.fee_base_units
    assert detail["flagged"] is False and "signature" not in detail
    assert ops_api.get("/api/escrow-records/?state=refunded").json()["results"] == []

    # The same escrow order id on another order is refused locally (a new key: the rule refuses it).
    again = place(ops_api, alice, fee_auth)
    assert again.status_code == 422 and again.json()["error"]["code"] == "reused_order_id"


def _refused(ops_api, alice, fee_auth: dict, code: str):
    intents = OrderIntent.objects.count()
    response = place(ops_api, alice, fee_auth)
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == code and error["fields"] == {"fee_auth": [error["message"]]}
    assert OrderIntent.objects.count() == intents and not FeeEscrowRecord.objects.exists()  # nothing written
    event = AuditEvent.objects.filter(action="escrow.authorise").latest("seq")
    assert event.outcome == "rejected" and event.response["code"] == code and event.actor_name == ops_api.token.identity
    assert fee_auth["signature"] not in str(event.request) + str(event.response)
    return error


def test_a_signature_by_another_key_is_refused_before_placement(ops_api, alice):
    good = signed_fee(alice)
    forged = signed_by(Account.create().key.hex(), contract=escrow.escrow_config().escrow_contract_address,
                       order_id=good["order_id"], payer=good["payer"], fee=good["fee_amount"], deadline=good["deadline"])
    error = _refused(ops_api, alice, good | {"signature": forged.signature}, "wrong_signer")
    assert "not by the payer" in error["message"]


def test_a_passed_deadline_is_refused(ops_api, alice, sandbox):
    past = min(int(sandbox.control("GET", "clock").json()["unix"]) - 3600, 1_600_000_000)
    _refused(ops_api, alice, signed_fee(alice, deadline=past), "expired")


def test_a_fee_below_the_minimum_is_refused(ops_api, alice):
    config = escrow.escrow_config()
    minimum = fees.minimum_fee(price=Decimal(PRICE), size=Decimal(SIZE), min_fee_usdc=config.min_fee_usdc,
                               min_fee_bps=config.min_fee_bps)
    _refused(ops_api, alice, signed_fee(alice, fee=minimum - 1), "below_minimum")


def test_a_tampered_amount_no_longer_matches_its_signature(ops_api, alice):
    fee_auth = signed_fee(alice)
    _refused(ops_api, alice, fee_auth | {"fee_amount": fee_auth["fee_amount"] + 1}, "wrong_signer")


def test_escrow_config_is_read_from_parsec(compliance_api, alice):
    response = compliance_api.get("/api/escrow-config/")
    assert response.status_code == 200, response.json()
    config = get_client().get_escrow_config()
    assert response.json() == {
        "fee_escrow_enabled": config.fee_escrow_enabled, "fee_bps": config.fee_bps,
        "affiliate_address": config.affiliate_address, "escrow_contract_address": config.escrow_contract_address,
        "min_fee_usdc": config.min_fee_usdc, "min_fee_bps": config.min_fee_bps,
        "treasury_address": config.treasury_address, "affiliate_fee_bps": config.affiliate_fee_bps,
    }


# --- Reads without Parsec ---------------------------------------------------------------------


@pytest.fixture
def records(db):
    now = timezone.now()
    customers = [f.customer(), f.customer()]
    rows = []
    for i in range(60):
        rows.append(FeeEscrowRecord(
            fee_order_id="0x" + secrets.token_hex(32), customer=customers[i % 2], payer="0x" + "ab" * 20,
            fee_base_units=100_000 + i, deadline=2_000_000_000, affiliate_fee_bps=5000,
            state=[FeeEscrowRecord.State.PULLED, FeeEscrowRecord.State.DISTRIBUTED][i % 2],
            created_at=now - timedelta(hours=60 - i), discrepancy="amount differs" if i == 7 else "",
        ))
    FeeEscrowRecord.objects.bulk_create(rows)
    return customers


@pytest.mark.django_db
def test_escrow_record_pages_keep_a_flat_query_count_and_walk_every_row_once(ops_api, records):
    ops_api.get("/api/whoami/")  # last_used_at is written once a minute: keep it out of the count
    counts = []
    for size in (5, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = ops_api.get(f"/api/escrow-records/?page_size={size}")
        assert response.status_code == 200 and len(response.json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts

    seen, url = [], "/api/escrow-records/?page_size=7"
    while url:
        page = ops_api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(FeeEscrowRecord.objects.values_list("pk", flat=True)) and len(seen) == len(set(seen))


@pytest.mark.django_db
def test_escrow_record_filters(compliance_api, records):
    first, _ = records

    def ids(query: str) -> set[int]:
        response = compliance_api.get(f"/api/escrow-records/?page_size=100&{query}")
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"customer={first.external_id}") == set(FeeEscrowRecord.objects.filter(customer=first).values_list("pk", flat=True))
    assert ids("state=distributed") == set(FeeEscrowRecord.objects.filter(state="distributed").values_list("pk", flat=True))
    assert ids("flagged=true") == set(FeeEscrowRecord.objects.exclude(discrepancy="").values_list("pk", flat=True))
    since = timezone.now() - timedelta(hours=10, minutes=30)
    recent = set(FeeEscrowRecord.objects.filter(created_at__gte=since).values_list("pk", flat=True))
    assert len(recent) == 10 and ids(f"updated_since={since.isoformat().replace('+00:00', 'Z')}") == recent
    old = FeeEscrowRecord.objects.order_by("created_at").first()
    FeeEscrowRecord.objects.filter(pk=old.pk).update(checked_at=timezone.now())  # re-checked: it was updated
    assert ids(f"updated_since={since.isoformat().replace('+00:00', 'Z')}") == recent | {old.pk}
    bad = compliance_api.get("/api/escrow-records/?state=lost")
    assert bad.status_code == 400 and "state" in bad.json()["error"]["fields"]


def test_a_fee_order_that_needs_four_eyes_is_refused_before_anything_is_written(ops_api, alice, settings):
    """The signature goes to Parsec with the order and is kept nowhere, so it cannot wait for an approval."""
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("0.10")  # the order is 0.50 USDC
    response = place(ops_api, alice, signed_fee(alice))
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["error"]["code"] == "four_eyes_fee_order" and "approve it" in body["error"]["message"]
    assert not OrderIntent.objects.exists() and not FeeEscrowRecord.objects.exists()
