"""Fee escrow against the running sandbox: local fee_auth checks, and every lifecycle path with
amounts matching the escrow contract's feeRecords on the sandbox chain to the unit (read through
parsec.escrow_chain, after the sandbox has mined what it queued)."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from eth_account import Account

from audit.models import AuditEvent
from orders import escrow, services
from orders.models import FeeEscrowRecord, OrderIntent
from parsec.client import get_client
from tests.fee_escrow import demo_customer, fee_intent, mine, place, polymarket_market, signed_by
from tests.sandbox_client import sync_catalogue

pytestmark = pytest.mark.django_db(transaction=True)


def chain(fee_order_id: str):
    return escrow.chain_reader().fee_record(fee_order_id)


def assert_matches_chain(record: FeeEscrowRecord) -> None:
    on_chain = chain(record.fee_order_id)
    assert record.discrepancy == ""
    assert (record.state, record.fee_base_units, record.affiliate_base_units, record.treasury_base_units,
            record.refund_base_units) == (on_chain.state, on_chain.fee_amount, on_chain.affiliate_amount,
                                          on_chain.treasury_amount, on_chain.refund_amount)
    if record.state == FeeEscrowRecord.State.PULLED:
        assert on_chain.held_amount == record.fee_base_units
    else:
        assert record.affiliate_base_units + record.treasury_base_units + record.refund_base_units == record.fee_base_units


# --- Local signature checks ---------------------------------------------------------------


def test_a_demo_wallets_signature_passes_the_local_checks(alice, operator):
    intent = fee_intent(alice, operator, price="0.05", size="10")
    fee_auth = escrow.sandbox_fee_auth(intent=intent)
    escrow.check_fee_auth(fee_auth=fee_auth, config=escrow.escrow_config(), customer=alice, exchange=intent.exchange,
                          price=intent.price, size=intent.size, intent=intent)


def test_a_signature_by_another_key_is_refused_locally_and_by_parsec(alice, operator, sandbox):
    config = escrow.escrow_config()
    intent = fee_intent(alice, operator, price="0.05", size="10")
    payer = alice.wallets.get().address
    forged = signed_by(Account.create().key.hex(), contract=config.escrow_contract_address, order_id=intent.fee_auth_order_id,
                       payer=payer, fee=intent.fee_base_units, deadline=escrow.sandbox_fee_auth(intent=intent).deadline)
    with pytest.raises(escrow.FeeAuthError) as refused:
        services.submit_intent(intent=intent, actor=operator, fee_auth=forged)
    assert refused.value.code == "wrong_signer" and "not by the payer" in refused.value.message
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.NEW and not FeeEscrowRecord.objects.exists()
    assert AuditEvent.objects.filter(action="escrow.authorise", outcome="rejected").exists()
    # The sandbox agrees: the same authorisation sent straight to Parsec is refused.
    import parsec_api

    with pytest.raises(parsec_api.BadRequestError):
        sandbox.sdk().orders.create(
            exchange="polymarket", market_id=intent.market_native_id, outcome="Yes", side="buy", price=0.05, size=10,
            fee_auth=forged.to_wire(), payer_address=payer,
            extra_headers={"X-Builder-Customer-Id": str(alice.parsec_customer_id)},
        )


def test_an_expired_deadline_is_refused(alice, operator, sandbox):
    intent = fee_intent(alice, operator, price="0.05", size="10")
    past = int(sandbox.control("GET", "clock").json()["unix"]) - 3600
    fee_auth = escrow.sandbox_fee_auth(intent=intent, deadline=min(past, 1_600_000_000))
    with pytest.raises(escrow.FeeAuthError) as refused:
        services.submit_intent(intent=intent, actor=operator, fee_auth=fee_auth)
    assert refused.value.code == "expired"


def test_a_fee_below_the_minimum_is_refused(alice, operator):
    config = escrow.escrow_config()
    intent = fee_intent(alice, operator, price="0.05", size="10")
    OrderIntent.objects.filter(pk=intent.pk).update(fee_base_units=config.min_fee_usdc - 1)
    intent.refresh_from_db()
    fee_auth = escrow.sandbox_fee_auth(intent=intent)
    with pytest.raises(escrow.FeeAuthError) as refused:
        escrow.check_fee_auth(fee_auth=fee_auth, config=config, customer=alice, exchange=intent.exchange, price=intent.price,
                              size=intent.size, intent=intent)
    assert refused.value.code == "below_minimum"


def test_a_reused_escrow_order_id_is_refused(alice, operator, capture_enqueues):
    first = fee_intent(alice, operator, price="0.05", size="10")
    place(first, operator)
    second = fee_intent(alice, operator, price="0.05", size="10")
    reused = escrow.sandbox_fee_auth(intent=first)  # a fresh signature over the spent order id
    with pytest.raises(escrow.FeeAuthError) as refused:
        escrow.check_fee_auth(fee_auth=reused, config=escrow.escrow_config(), customer=alice, exchange=second.exchange,
                              price=second.price, size=second.size, intent=second)
    assert refused.value.code == "reused_order_id"


# --- Lifecycle -------------------------------------------------------------------------------


def test_a_filled_order_distributes_the_whole_fee(alice, operator, capture_enqueues):
    record = place(fee_intent(alice, operator, price="0.99", size="10"), operator)
    record = escrow.check_record(record=record)
    assert record.state == FeeEscrowRecord.State.DISTRIBUTED and record.refund_base_units == 0
    assert record.affiliate_base_units > 0 and record.treasury_base_units > 0
    assert_matches_chain(record)


def test_a_partly_filled_order_distributes_its_share_and_refunds_the_rest(alice, operator, capture_enqueues):
    market = polymarket_market()
    book = get_client().get_orderbook(parsec_id=market.parsec_id, outcome="Yes")
    best = book.asks[0]
    size = (best.size + Decimal(7)).quantize(Decimal(1))
    record = place(fee_intent(alice, operator, price=str(best.price), size=str(size), order_type="ioc", market=market), operator)
    record = escrow.check_record(record=record)
    assert record.order.filled > 0 and record.order.filled < record.order.size
    assert record.state == FeeEscrowRecord.State.PARTIALLY_DISTRIBUTED
    assert 0 < record.refund_base_units < record.fee_base_units
    assert_matches_chain(record)


def test_a_cancelled_order_refunds_the_fee(alice, operator, capture_enqueues):
    record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    record = escrow.check_record(record=record)
    assert record.state == FeeEscrowRecord.State.PULLED
    assert_matches_chain(record)
    results = services.cancel_orders(actor=operator, reason="escrow test", order_ids=[record.order_id])
    assert [r.result for r in results] == ["cancelled"]
    mine()
    record = escrow.check_record(record=record)
    assert record.state == FeeEscrowRecord.State.REFUNDED and record.refund_base_units == record.fee_base_units
    assert record.refund_reason == "cancelled"
    assert_matches_chain(record)


def test_a_record_that_disagrees_with_the_escrow_is_flagged(alice, operator, capture_enqueues):
    record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    FeeEscrowRecord.objects.filter(pk=record.pk).update(fee_base_units=record.fee_base_units + 1)
    record = escrow.check_record(record=record)
    assert "fee: ours" in record.discrepancy
    assert AuditEvent.objects.filter(action="escrow.discrepancy").exists()


def test_the_signature_is_stored_nowhere(alice, operator, capture_enqueues):
    intent = fee_intent(alice, operator, price="0.05", size="10")
    fee_auth = escrow.sandbox_fee_auth(intent=intent)
    services.submit_intent(intent=intent, actor=operator, fee_auth=fee_auth)
    from tests.security.dump import database_text

    assert fee_auth.signature.removeprefix("0x") not in database_text()


# --- Stuck pending: a sandbox where orders stay pending ---------------------------------------


@pytest.fixture(scope="module")
def pending_sandbox(tmp_path_factory):
    from tests.sandbox_client import start_sandbox, stop_sandbox

    proc = start_sandbox(tmp_path_factory.mktemp("pending-sandbox"), extra_env={"SANDBOX_PENDING_DELAY_SECONDS": "100000"})
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def pending_record(settings, pending_sandbox, operator, capture_enqueues):
    """A fee-escrow order for the demo customer placed at the pending sandbox (it stays pending)."""
    settings.PARSEC_API_BASE_URL = pending_sandbox.base_url
    settings.PARSEC_API_KEY = pending_sandbox.builder_key
    settings.PARSEC_SANDBOX_ADMIN_KEY = pending_sandbox.admin_key
    sync_catalogue()
    alice = demo_customer()
    return place(fee_intent(alice, operator, price="0.05", size="10"), operator)


def test_an_order_stuck_pending_past_ten_minutes_is_refunded(pending_record, pending_sandbox):
    record = escrow.check_record(record=pending_record)
    assert record.order.status == "pending" and record.state == FeeEscrowRecord.State.PULLED
    assert_matches_chain(record)

    pending_sandbox.control("POST", "clock/advance", json={"seconds": 9 * 60}).raise_for_status()
    assert escrow.check_record(record=record).state == FeeEscrowRecord.State.PULLED

    pending_sandbox.control("POST", "clock/advance", json={"seconds": 2 * 60}).raise_for_status()
    record = escrow.check_record(record=record)
    assert record.order.status == "pending"
    assert record.state == FeeEscrowRecord.State.REFUNDED and record.refund_reason == "stuck_pending"
    assert record.refund_base_units == record.fee_base_units
    assert_matches_chain(record)
    # The follower keeps the two transactions with their blocks, as the web3 reader sees them.
    from orders.escrow_events import follow_chain

    follow_chain()
    kept = [(e.kind, e.amount, e.reason, e.block_number, e.tx_hash) for e in record.chain_events.all()]
    assert kept == [(e.name, e.amount, e.reason or "", e.block_number, e.tx_hash)
                    for e in escrow.chain_reader().events(record.fee_order_id)]
    assert [k[:3] for k in kept] == [("FeePulled", record.fee_base_units, ""),
                                     ("FeeRefunded", record.fee_base_units, "stuck_pending")]


def test_a_fee_still_held_past_ten_minutes_by_our_clock_is_flagged_stuck(pending_record):
    from django.utils import timezone

    record = escrow.check_record(record=pending_record)
    assert (record.reconciliation, record.discrepancy) == ("matches", "")
    later = timezone.now() + timezone.timedelta(minutes=11)
    record = escrow.check_record(record=record, now=later)
    # We expect Parsec's refund by now; the chain may not have mined it yet: pending for a few blocks.
    assert (record.state, record.chain_state, record.reconciliation, record.discrepancy) == ("refunded", "pulled",
                                                                                            "pending_on_chain", "")
    record = escrow.check_record(record=record, now=later + timezone.timedelta(seconds=61))
    assert record.reconciliation == "stuck"
    assert record.discrepancy.startswith("stuck in escrow: pulled 12 min ago and not settled (the order is pending); "
                                         "state: ours refunded, escrow pulled")


def test_fresh_order_ids_are_bytes32():
    assert escrow.BYTES32.match(escrow.new_fee_order_id())
    assert escrow.new_fee_order_id() != escrow.new_fee_order_id()
    assert len(secrets.token_hex(32)) == 64
