"""The back-office reads the fee escrow from the chain: fee orders placed through its service
against the sandbox, the records followed on chain (the event follower on the persisted cursor and
the follow-ups an order's outcome enqueues) and checked through the gateway's web3 reader, to the
base unit, with the transactions and blocks that moved the fee."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from orders import escrow, escrow_events, services
from orders.models import FeeEscrowEvent, FeeEscrowRecord
from parsec.client import get_client
from tests.fee_escrow import demo_customer, fee_intent, mine, place, polymarket_market
from tests.sandbox_client import start_sandbox, stop_sandbox, sync_catalogue

pytestmark = pytest.mark.django_db(transaction=True)

R = FeeEscrowRecord.Reconciliation


def reader():
    return escrow.chain_reader()


def split(fee: int, filled: Decimal, size: Decimal, bps: int) -> tuple[int, int, int]:
    """The contract's arithmetic, written from its rules: the filled share distributed (rounded
    down), the affiliate's bps of it (rounded down), the treasury the rest, the payer the remainder."""
    distributed = int((Decimal(fee) * filled / size).to_integral_value(rounding=ROUND_DOWN))
    affiliate = distributed * bps // 10_000
    return affiliate, distributed - affiliate, fee - distributed


def events_on_chain(record) -> list[tuple]:
    return [(e.name, e.amount, e.affiliate_amount, e.treasury_amount, e.reason, e.block_number, e.tx_hash)
            for e in reader().events(record.fee_order_id)]


def events_kept(record) -> list[tuple]:
    return [(e.kind, e.amount, e.affiliate_amount, e.treasury_amount, e.reason or None, e.block_number, e.tx_hash)
            for e in FeeEscrowEvent.objects.filter(record=record, dropped_at__isnull=True)]


def assert_is_the_chain(record: FeeEscrowRecord, *, amounts: tuple[int, int, int], state: str) -> None:
    """Ours, the chain's record (through the web3 reader) and the expected split agree to the unit."""
    on_chain = reader().fee_record(record.fee_order_id)
    assert (on_chain.state, on_chain.fee_amount, on_chain.affiliate_amount, on_chain.treasury_amount,
            on_chain.refund_amount) == (state, record.fee_base_units, *amounts)
    assert (record.state, record.affiliate_base_units, record.treasury_base_units, record.refund_base_units) == (state, *amounts)
    assert (record.reconciliation, record.discrepancy, record.chain_state) == (R.MATCHES, "", state)
    assert record.chain_block is not None and record.chain_block >= max(e[5] for e in events_kept(record))


def followed(record: FeeEscrowRecord, follow_ups: list) -> FeeEscrowRecord:
    """Run the follow-ups enqueued for this record (as the worker would after their countdown)."""
    mine()
    queued = [entry for entry in follow_ups if entry[0] == record.pk]
    assert queued, "the order's outcome enqueued no follow-up of its fee record"
    follow_ups.clear()
    for record_id, attempt, countdown in queued:
        assert countdown > 0
        escrow_events.follow_up_record(record_id, attempt)
    return FeeEscrowRecord.objects.get(pk=record.pk)


def test_a_full_fill_is_pulled_then_distributed_by_the_split(alice, operator, capture_enqueues, follow_ups):
    bps = escrow.escrow_config().affiliate_fee_bps
    record = place(fee_intent(alice, operator, price="0.99", size="10"), operator)
    assert record.order.status == "filled"
    record = followed(record, follow_ups)
    escrow_events.follow_chain()
    record.refresh_from_db()
    fee = record.fee_base_units
    affiliate, treasury, refund = split(fee, Decimal(1), Decimal(1), bps)
    assert refund == 0 and affiliate == fee * bps // 10_000
    assert_is_the_chain(record, amounts=(affiliate, treasury, 0), state="distributed")
    chain = events_on_chain(record)
    assert [e[:5] for e in chain] == [("FeePulled", fee, 0, 0, None), ("FeeDistributed", fee, affiliate, treasury, None)]
    assert events_kept(record) == chain


def test_a_partial_fill_then_a_cancel_distributes_the_filled_share_and_refunds_the_rest(
        alice, operator, capture_enqueues, follow_ups, operator_client):
    bps = escrow.escrow_config().affiliate_fee_bps
    market = polymarket_market()
    best = get_client().get_orderbook(parsec_id=market.parsec_id, outcome="Yes").asks[0]
    size = (best.size + Decimal(7)).quantize(Decimal(1))
    record = place(fee_intent(alice, operator, price=str(best.price), size=str(size), market=market), operator)
    assert record.order.status == "partially_filled" and 0 < record.order.filled < size
    record = followed(record, follow_ups)
    assert (record.state, record.chain_state, record.reconciliation) == ("pulled", "pulled", R.MATCHES)

    results = services.cancel_orders(actor=operator, reason="escrow test", order_ids=[record.order_id])
    assert [r.result for r in results] == ["cancelled"]
    record = followed(record, follow_ups)
    escrow_events.follow_chain()
    record.refresh_from_db()
    affiliate, treasury, refund = split(record.fee_base_units, record.order.filled, size, bps)
    assert 0 < refund < record.fee_base_units
    assert_is_the_chain(record, amounts=(affiliate, treasury, refund), state="partially_distributed")
    chain = events_on_chain(record)
    assert [e[:5] for e in chain] == [("FeePulled", record.fee_base_units, 0, 0, None),
                                      ("FeeDistributed", affiliate + treasury, affiliate, treasury, None),
                                      ("FeeRefunded", refund, 0, 0, "cancelled")]
    assert events_kept(record) == chain

    # Each record shows its transactions and blocks, from the database.
    page = operator_client.get(reverse("admin:orders_feeescrowrecord_change", args=[record.pk])).content.decode()
    listing = operator_client.get(reverse("admin:orders_feeescrowrecord_changelist")).content.decode()
    for *_, block, tx_hash in chain:
        assert tx_hash in page and f">{block}<" in page
        assert tx_hash in listing
    assert "Matches the chain" in page
    api = operator_client.get(f"/api/escrow-records/{record.pk}/").json()
    assert (api["reconciliation"], api["chain_state"], api["chain_block"], api["chain_error"]) == (
        "matches", "partially_distributed", record.chain_block, "")
    assert [(e["kind"], e["amount"], e["affiliate_amount"], e["treasury_amount"], e["reason"] or None, e["block_number"],
             e["tx_hash"]) for e in api["chain_events"]] == chain
    matching = operator_client.get("/api/escrow-records/", {"reconciliation": "matches"}).json()["results"]
    assert record.pk in [r["id"] for r in matching]
    assert operator_client.get("/api/escrow-records/", {"reconciliation": "stuck"}).json()["results"] == []


def test_a_rejected_submission_refunds_the_fee(alice, operator, sandbox, capture_enqueues, follow_ups):
    rule = sandbox.control("POST", "faults", json={"kind": "submission_failure", "endpoint": "orders.create",
                                                   "customer_id": str(alice.parsec_customer_id), "count": 1}).json()
    try:
        record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    finally:
        sandbox.control("DELETE", f"faults/{rule['id']}")
    record = followed(record, follow_ups)
    assert record.order.status == "rejected"
    assert (record.state, record.refund_reason) == ("refunded", "rejected")
    escrow_events.follow_chain()
    record.refresh_from_db()
    assert_is_the_chain(record, amounts=(0, 0, record.fee_base_units), state="refunded")
    assert [e[:5] for e in events_kept(record)] == [("FeePulled", record.fee_base_units, 0, 0, None),
                                                    ("FeeRefunded", record.fee_base_units, 0, 0, "rejected")]


def test_amounts_that_differ_by_one_base_unit_are_flagged(alice, operator, capture_enqueues):
    record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    FeeEscrowRecord.objects.filter(pk=record.pk).update(fee_base_units=record.fee_base_units - 1)
    record = escrow.check_record(record=record)
    assert record.reconciliation == R.AMOUNTS_DIFFER
    assert record.discrepancy == f"fee: ours {record.fee_base_units}, escrow {record.fee_base_units + 1}"
    assert AuditEvent.objects.filter(action="escrow.discrepancy", response__reconciliation="amounts_differ").exists()


def test_refunded_while_we_think_it_filled_is_flagged(alice, operator, capture_enqueues, follow_ups):
    from orders.models import Order

    record = place(fee_intent(alice, operator, price="0.05", size="10"), operator)
    services.cancel_orders(actor=operator, reason="escrow test", order_ids=[record.order_id])
    record = followed(record, follow_ups)
    assert record.chain_state == "refunded"
    # Our mirror (wrongly) says it filled: the escrow's full refund is an alert.
    Order.objects.filter(pk=record.order_id).update(status="filled", filled=Decimal(10))
    record = escrow.check_record(record=record, refresh=False)
    assert record.reconciliation == R.REFUNDED_NOT_FILLED
    assert record.discrepancy.startswith("the escrow refunded the whole fee (cancelled) but the order filled 10 of 10")


# --- A chain that mines only when asked: pending on chain, and a reorg ----------------------------------


@pytest.fixture(scope="module")
def quiet_sandbox(tmp_path_factory):
    proc = start_sandbox(tmp_path_factory.mktemp("escrow-quiet-sandbox"), extra_env={"SANDBOX_CHAIN_BLOCK_SECONDS": "0"})
    yield proc
    stop_sandbox(proc)


@pytest.fixture
def quiet_alice(settings, quiet_sandbox):
    settings.PARSEC_API_BASE_URL = quiet_sandbox.base_url
    settings.PARSEC_API_KEY = quiet_sandbox.builder_key
    settings.PARSEC_SANDBOX_ADMIN_KEY = quiet_sandbox.admin_key
    settings.ESCROW_CONFIRMATIONS = 3
    sync_catalogue()
    return demo_customer()


def test_a_fee_missing_on_chain_right_after_placing_is_pending_then_missing(quiet_alice, operator, capture_enqueues):
    from datetime import timedelta

    record = place(fee_intent(quiet_alice, operator, price="0.05", size="10"), operator, mine_after=False)
    record = escrow.check_record(record=record)
    assert (record.state, record.chain_state, record.reconciliation, record.discrepancy) == ("pulled", "", R.PENDING, "")
    later = record.chain_behind_since + timedelta(seconds=61)
    record = escrow.check_record(record=record, now=later)
    assert (record.reconciliation, record.discrepancy) == (R.MISSING, "the escrow has no record for this fee order id")
    mine()
    record = escrow.check_record(record=record, now=later)
    assert (record.chain_state, record.reconciliation, record.discrepancy) == ("pulled", R.MATCHES, "")
    assert record.chain_behind_since is None


def test_a_cancel_refunds_the_fee_and_the_record_follows_within_blocks(quiet_alice, operator, capture_enqueues, follow_ups):
    record = place(fee_intent(quiet_alice, operator, price="0.05", size="10"), operator)
    record = followed(record, follow_ups)
    assert (record.chain_state, record.reconciliation) == ("pulled", R.MATCHES)
    services.cancel_orders(actor=operator, reason="escrow test", order_ids=[record.order_id])
    # Before the sandbox mines the refund the chain lags us: pending on chain, not a difference.
    record = escrow.check_record(record=record)
    assert (record.state, record.chain_state, record.reconciliation, record.discrepancy) == ("refunded", "pulled", R.PENDING, "")
    record = followed(record, follow_ups)
    assert record.refund_reason == "cancelled"
    escrow_events.follow_chain()
    record.refresh_from_db()
    assert_is_the_chain(record, amounts=(0, 0, record.fee_base_units), state="refunded")
    assert [e[:5] for e in events_kept(record)] == [("FeePulled", record.fee_base_units, 0, 0, None),
                                                    ("FeeRefunded", record.fee_base_units, 0, 0, "cancelled")]


def test_a_refused_placement_leaves_nothing_on_chain_and_nothing_flagged(quiet_alice, quiet_sandbox, operator, capture_enqueues,
                                                                         follow_ups):
    from orders.models import Market

    market = Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("-pk").first()
    quiet_sandbox.control("POST", f"markets/{market.parsec_id}/close").raise_for_status()
    intent = fee_intent(quiet_alice, operator, price="0.05", size="10", market=market)
    result = services.submit_intent(intent=intent, actor=operator, fee_auth=escrow.sandbox_fee_auth(intent=intent))
    assert result.intent.status == "rejected", result.message
    record = followed(FeeEscrowRecord.objects.get(intent=intent), follow_ups)
    assert reader().fee_record(record.fee_order_id) is None
    assert (record.state, record.refund_reason, record.chain_state, record.reconciliation, record.discrepancy) == (
        "refused", "not_placed", "", R.MATCHES, "")
    assert [entry for entry in follow_ups if entry[0] == record.pk] == []  # nothing left to follow


def test_records_whose_events_came_in_but_whose_state_could_not_be_read_are_read_again(quiet_alice, operator, capture_enqueues):
    """The provider fails the records' read after the events' read: the events are kept and the
    records left pending, so the minute's check reads them again."""
    from django.conf import settings

    from parsec.errors import ChainUnavailable
    from parsec.escrow_chain import ChainEscrowReader

    class FailingRecords(ChainEscrowReader):
        def fee_record(self, order_id):
            raise ChainUnavailable("HTTP 503", rpc_method="eth_call", status=503)

    live = reader()
    failing = FailingRecords(rpc_url=live.rpc_url, contract_address=live.address, abi_path=settings.ESCROW_ABI_PATH,
                             chain_id=137, confirmations=3, retries=1)
    record = place(fee_intent(quiet_alice, operator, price="0.05", size="10"), operator)
    record = escrow.check_record(record=record)
    assert record.reconciliation == R.MATCHES
    result = escrow_events.follow_chain(reader=failing)
    assert result["new"] == 1 and "HTTP 503" in result["error"]
    record.refresh_from_db()
    assert (record.reconciliation, record.chain_error) == (R.PENDING, "The RPC provider is failing or behind; the read is "
                                                           "retried, then shown as not checked. (eth_call failed)")
    assert record.pk in escrow.due_for_check(now=record.checked_at).values_list("pk", flat=True)
    assert escrow.check_record(record=record).reconciliation == R.MATCHES


def test_a_reorg_that_drops_a_refund_is_detected_and_recovered(quiet_alice, quiet_sandbox, operator, capture_enqueues):
    record = place(fee_intent(quiet_alice, operator, price="0.05", size="10"), operator)
    assert escrow_events.follow_chain()["new"] == 1
    snapshot = quiet_sandbox.control("POST", "chain/snapshot").json()
    services.cancel_orders(actor=operator, reason="escrow test", order_ids=[record.order_id])
    mine()
    escrow_events.follow_chain()
    record.refresh_from_db()
    assert_is_the_chain(record, amounts=(0, 0, record.fee_base_units), state="refunded")
    first_refund = FeeEscrowEvent.objects.get(record=record, kind="FeeRefunded")

    assert quiet_sandbox.control("POST", "chain/revert", json={"snapshot_id": snapshot["snapshot_id"]}).json()["blocks_dropped"] == 1
    assert escrow_events.follow_chain()["dropped"] == 1
    record.refresh_from_db()
    first_refund.refresh_from_db()
    assert first_refund.dropped_at is not None
    # The record goes back to what the chain now says, flagged and audited.
    assert reader().fee_record(record.fee_order_id).state == "pulled"
    assert (record.state, record.chain_state, record.reconciliation) == ("refunded", "pulled", R.REORG)
    assert record.discrepancy.startswith(f"a reorg dropped FeeRefunded of {record.fee_base_units} (tx {first_refund.tx_hash}, "
                                         f"block {first_refund.block_number}); the escrow shows the fee pulled again")
    reorg = AuditEvent.objects.get(action="escrow.reorg")
    assert (reorg.response["tx_hash"], reorg.response["dropped"]) == (first_refund.tx_hash, "FeeRefunded")
    assert AuditEvent.objects.filter(action="escrow.discrepancy", response__reconciliation="reorg").exists()

    mine()  # the dropped refund is mined again, in another block
    escrow_events.follow_chain()
    record.refresh_from_db()
    assert_is_the_chain(record, amounts=(0, 0, record.fee_base_units), state="refunded")
    again = FeeEscrowEvent.objects.get(record=record, kind="FeeRefunded", dropped_at__isnull=True)
    assert again.key != first_refund.key and again.amount == record.fee_base_units
    assert events_kept(record) == events_on_chain(record)

    for _ in range(3):
        quiet_sandbox.mine()
    escrow_events.follow_chain()
    assert all(FeeEscrowEvent.objects.filter(record=record, dropped_at__isnull=True).values_list("final", flat=True))


# --- A chain that is not the configured one, or that cannot be reached ------------------------------------


USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"  # the sandbox's mock USDC: code, but not the escrow's ABI


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ESCROW_CHAIN_ID", "80002", "ESCROW_RPC_URL serves chain id 137, not ESCROW_CHAIN_ID 80002"),
    ("ESCROW_CONTRACT_ADDRESS", "0x" + "12" * 20, "no contract at ESCROW_CONTRACT_ADDRESS 0x1212121212121212121212121212121212121212"),
    ("ESCROW_CONTRACT_ADDRESS", USDC_E, "does not answer feeRecords as ESCROW_ABI_PATH describes"),
])
def test_a_worker_refuses_to_start_on_a_misconfigured_escrow_chain(sandbox, tmp_path, name, value, message):
    import os
    import subprocess
    import sys
    import uuid

    from tests.sandbox_client import ROOT

    env = {**os.environ, "BACKOFFICE_VAR_DIR": str(tmp_path / "var"), "CELERY_BROKER_URL": "filesystem://",
           "ESCROW_RPC_URL": f"{sandbox.base_url}/_chain", "ESCROW_RPC_RETRIES": "1", name: value}
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--concurrency", "1", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-n", f"refused-{uuid.uuid4().hex[:8]}@%h"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == 1
    last_line = worker.stderr.strip().splitlines()[-1]
    assert last_line.startswith("The worker does not start: the escrow chain is misconfigured.") and message in last_line


def test_the_pages_say_the_chain_cannot_be_reached_and_show_the_last_known_state(settings, operator_client):
    from datetime import timedelta

    from django.utils import timezone

    from orders.models import EscrowFollower
    from tests import factories as f

    now = timezone.now()
    record = FeeEscrowRecord.objects.create(
        fee_order_id=escrow.new_fee_order_id(), customer=f.customer(), payer="0x" + "1" * 40, fee_base_units=137_500,
        deadline=2_000_000_000, affiliate_fee_bps=5000, state="pulled", pulled_at=now - timedelta(minutes=6),
        chain_state="pulled", chain_block=41, chain_read_at=now - timedelta(minutes=5), reconciliation=R.MATCHES,
    )
    EscrowFollower.objects.create(name="escrow", last_attempt_at=now - timedelta(minutes=5),
                                  last_success_at=now - timedelta(minutes=5), head_block=41, final_block=38)
    settings.ESCROW_RPC_URL, settings.ESCROW_RPC_RETRIES = "http://127.0.0.1:9/rpc", 1

    assert "error" in escrow_events.follow_chain()
    listing = operator_client.get(reverse("admin:orders_feeescrowrecord_changelist")).content.decode()
    assert "The escrow chain cannot be reached: Could not reach the RPC provider" in listing
    assert "Showing the last known state, read 5 min ago at" in listing and "(block 41)" in listing

    response = operator_client.post(reverse("admin:orders_feeescrowrecord_check", args=[record.pk]), follow=True)
    page = response.content.decode()
    assert "The escrow chain could not be read: Could not reach the RPC provider" in page
    assert "Showing the last known chain state (read 5 min ago)." in page
    assert "The last read of the chain failed" in page
    record.refresh_from_db()
    assert (record.chain_state, record.chain_block, record.reconciliation) == ("pulled", 41, R.MATCHES)
    assert record.chain_error.startswith("Could not reach the RPC provider")

    card = operator_client.get(reverse("dashboard_section", args=["escrow"])).content.decode()
    assert "The escrow chain cannot be reached" in card and "Last known state from block 41, 5 min ago." in card


def test_a_sync_that_ends_an_order_follows_its_fee_on_chain(follow_ups):
    """A fill or cancel the sync brings in (not our own action) moves the record too."""
    from customers.signals import customer_synced
    from sync.models import SyncRun
    from tests import factories as f

    customer = f.customer()
    ended = f.order(customer, f.market(), status="filled", filled=Decimal(10))
    resting = f.order(customer, f.market(), status="open")
    records = {order.status: FeeEscrowRecord.objects.create(
        fee_order_id=escrow.new_fee_order_id(), customer=customer, order=order, payer="0x" + "1" * 40, fee_base_units=137_500,
        deadline=2_000_000_000, affiliate_fee_bps=5000, state="pulled", chain_state="pulled", reconciliation=R.MATCHES,
    ) for order in (ended, resting)}
    customer_synced.send(sender=SyncRun, customer_id=customer.pk, run_id=None)
    assert follow_ups == [(records["filled"].pk, 0, 2.0)]
