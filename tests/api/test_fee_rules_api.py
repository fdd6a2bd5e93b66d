"""The fee rules on every path (hole 4 of issue 13): the payer is one of the order customer's
wallets, the fee lies between the builder's minimum and the tier's maximum, escrow is Polymarket
only and refused before any record is written, and a fee order Parsec refuses settles its record
as refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEvent
from orders import escrow, fees
from orders.models import FeeEscrowRecord, Market, OrderIntent
from parsec.client import get_client
from tests.api.conftest import new_key
from tests.api.test_escrow_api import PLACE, PRICE, SIZE, place, signed_fee
from tests.fee_escrow import demo_customer

pytestmark = pytest.mark.django_db(transaction=True)


def refused(response, code: str) -> dict:
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == code, error
    assert not FeeEscrowRecord.objects.exists() and not OrderIntent.objects.exists()  # nothing written
    return error


def test_a_fee_signed_by_another_customers_wallet_is_refused(ops_api, alice):
    bob = demo_customer("demo-bob")
    config = escrow.escrow_config()
    fee = fees.fee_for_config(config=config, price=Decimal(PRICE), size=Decimal(SIZE))
    auth = get_client().sandbox_sign_fee_auth(address=bob.wallets.order_by("pk").first().address, fee_amount=fee,
                                              order_id=escrow.new_fee_order_id()).fee_auth
    body = {"order_id": auth.order_id, "payer": auth.payer, "fee_amount": int(auth.fee_amount),
            "deadline": int(auth.deadline), "signature": auth.signature}
    error = refused(place(ops_api, alice, body), "payer_not_customer")
    assert "not one of" in error["message"]
    event = AuditEvent.objects.filter(action="escrow.authorise").latest("seq")
    assert event.outcome == "rejected" and event.response["code"] == "payer_not_customer"


def test_a_fee_above_the_tiers_maximum_is_refused(ops_api, alice):
    # 500 USDC on a 0.50 USDC order: far above the tier's 50 bps (and its floor, the minimum fee)
    error = refused(place(ops_api, alice, signed_fee(alice, fee=500_000_000)), "above_maximum")
    assert "maximum" in error["message"]


def test_one_base_unit_above_the_maximum_is_refused(ops_api, alice):
    config = escrow.escrow_config()
    maximum = fees.maximum_fee(price=Decimal(PRICE), size=Decimal(SIZE), config=config)
    refused(place(ops_api, alice, signed_fee(alice, fee=maximum + 1)), "above_maximum")


def test_the_tiers_maximum_itself_is_accepted(ops_api, alice):
    config = escrow.escrow_config()
    maximum = fees.maximum_fee(price=Decimal(PRICE), size=Decimal(SIZE), config=config)
    response = place(ops_api, alice, signed_fee(alice, fee=maximum))
    assert response.status_code == 201, response.json()


def test_a_fee_on_a_kalshi_order_is_refused_before_any_record(ops_api, alice):
    kalshi = Market.objects.filter(exchange="kalshi", market_type="binary", status="active").order_by("pk").first()
    body = {"customer": alice.external_id, "market": kalshi.parsec_id, "outcome": "Yes", "side": "buy",
            "price": PRICE, "size": SIZE, "reason": "fee on kalshi", "fee_auth": signed_fee(alice)}
    response = ops_api.post(PLACE, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    refused(response, "escrow_polymarket_only")


def test_a_fee_order_parsec_refuses_settles_its_record_as_refused(ops_api, alice, sandbox):
    rule = sandbox.control("POST", "faults", json={"kind": "rate_limit", "endpoint": "orders.create",
                                                   "customer_id": str(alice.parsec_customer_id), "count": 1}).json()
    try:
        response = place(ops_api, alice, signed_fee(alice))
    finally:
        sandbox.control("DELETE", f"faults/{rule['id']}")
    assert response.status_code == 429, response.json()
    record = FeeEscrowRecord.objects.get()
    assert record.intent.status == OrderIntent.Status.NOT_PLACED
    assert record.state == FeeEscrowRecord.State.REFUSED and record.settled_at is not None
    assert record.discrepancy == ""
