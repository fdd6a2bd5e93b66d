"""The gateway's escrow chain reader (parsec.escrow_chain).

Failures are classified and retried against a scripted JSON-RPC server on loopback (a real HTTP
server whose answers each test writes); the reading itself runs against a real sandbox chain
that mines only when asked: the cursor, the confirmations, a reorg (the control plane's revert)
that drops a refund and the same refund mined again, a restart of the reader; and the factory
refuses a wrong chain id or an address without code.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from parsec import escrow_chain
from parsec.errors import (
    ChainConnectionError,
    ChainMisconfigured,
    ChainRateLimited,
    ChainRejected,
    ChainTimeout,
    ChainUnavailable,
    ChainUnexpectedResponse,
)
from parsec.escrow_chain import ChainEscrowReader
from parsec.models import EscrowChainCursor
from tests.sandbox_client import start_sandbox, stop_sandbox

ESCROW = "0xbd25057b4d3252ca1ec26e1e5efb6480315ba142"
BLOCK = {"number": "0x10", "hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32, "timestamp": "0x6500", "transactions": [],
         "gasLimit": "0x1", "gasUsed": "0x0", "miner": "0x" + "00" * 20, "logsBloom": "0x" + "00" * 256, "extraData": "0x",
         "difficulty": "0x0", "nonce": "0x0000000000000000", "sha3Uncles": "0x" + "00" * 32, "stateRoot": "0x" + "00" * 32,
         "receiptsRoot": "0x" + "00" * 32, "transactionsRoot": "0x" + "00" * 32, "size": "0x1", "uncles": [], "baseFeePerGas": "0x7",
         "mixHash": "0x" + "00" * 32}


class ScriptedRPC(ThreadingHTTPServer):
    """Answers JSON-RPC by method from scripted replies (the last repeats) and records every call."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: dict[str, list] = {}
        self.calls: list[tuple[str, list]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/rpc"

    def script(self, method: str, *replies) -> None:
        """A reply: ("result", value), ("error", code, message), ("http", status, headers, body),
        ("sleep", seconds, value), or a function of the params returning one of those."""
        self.replies[method] = list(replies)

    def seen(self, method: str) -> list[list]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def next_reply(self, method: str, params):
        with self.lock:
            self.calls.append((method, params))
            replies = self.replies.get(method) or [("error", -32601, f"no script for {method}")]
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(params) if callable(reply) else reply


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = self.server.next_reply(call["method"], call.get("params"))
        if reply[0] == "sleep":
            time.sleep(reply[1])
            reply = ("result", reply[2])
        if reply[0] == "http":
            _, status, headers, body = reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            raw = body.encode()
        else:
            self.send_response(200)
            payload = {"jsonrpc": "2.0", "id": call["id"]}
            payload.update({"result": reply[1]} if reply[0] == "result" else {"error": {"code": reply[1], "message": reply[2]}})
            raw = json.dumps(payload).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def rpc():
    server = ScriptedRPC()
    yield server
    server.shutdown()
    server.server_close()


def reader_for(url: str, **kwargs) -> ChainEscrowReader:
    options = {"contract_address": ESCROW, "abi_path": settings.ESCROW_ABI_PATH, "chain_id": 137, "confirmations": 3,
               "retries": 3, "base_backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0, **kwargs}
    return ChainEscrowReader(rpc_url=url, **options)


# --- Classification and retries ---------------------------------------------------------------------


def test_a_503_is_retried_and_the_answer_used(rpc):
    rpc.script("eth_getBlockByNumber", ("http", 503, {}, "upstream busy"), ("result", BLOCK))
    assert reader_for(rpc.url).head().number == 16
    assert len(rpc.seen("eth_getBlockByNumber")) == 2


def test_a_json_rpc_server_error_is_retried_then_given_up_as_unavailable(rpc):
    rpc.script("eth_getBlockByNumber", ("error", -32000, "header not found"))
    with pytest.raises(ChainUnavailable) as failed:
        reader_for(rpc.url, retries=3).head()
    assert failed.value.rpc_code == -32000 and "header not found" in str(failed.value)
    assert len(rpc.seen("eth_getBlockByNumber")) == 3


def test_a_429_waits_its_retry_after_and_retries(rpc):
    rpc.script("eth_getBlockByNumber", ("http", 429, {"Retry-After": "0"}, "slow down"), ("result", BLOCK))
    assert reader_for(rpc.url).head().number == 16
    assert len(rpc.seen("eth_getBlockByNumber")) == 2
    rpc.script("eth_getBlockByNumber", ("http", 429, {"Retry-After": "3600"}, "slow down"))
    with pytest.raises(ChainRateLimited):
        reader_for(rpc.url).head()  # a wait longer than a read may take is not slept


def test_a_slow_provider_times_out_after_the_retries(rpc):
    rpc.script("eth_getBlockByNumber", ("sleep", 1.0, BLOCK))
    with pytest.raises(ChainTimeout):
        reader_for(rpc.url, timeout=0.2, retries=2).head()
    assert len(rpc.seen("eth_getBlockByNumber")) == 2


@pytest.mark.parametrize(("reply", "kind"), [
    (("http", 200, {}, "<html>not json-rpc</html>"), ChainUnexpectedResponse),
    (("error", -32601, "the method does not exist"), ChainRejected),
    (("http", 404, {}, "no such path"), ChainRejected),
])
def test_a_refusal_or_a_foreign_answer_is_not_retried(rpc, reply, kind):
    rpc.script("eth_getBlockByNumber", reply)
    with pytest.raises(kind):
        reader_for(rpc.url).head()
    assert len(rpc.seen("eth_getBlockByNumber")) == 1


def test_an_unreachable_provider_is_a_connection_error_with_nothing_sent():
    with pytest.raises(ChainConnectionError) as failed:
        reader_for("http://127.0.0.1:1/rpc", retries=1).head()
    assert failed.value.request_sent is False and "ESCROW_RPC_URL" in str(failed.value)


def test_a_log_range_the_provider_refuses_is_halved_until_accepted(rpc):
    def logs(params):
        low, high = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        return ("error", -32005, "block range is too large") if high - low + 1 > 3 else ("result", [])

    rpc.script("eth_getBlockByNumber", ("result", {**BLOCK, "number": hex(20)}))
    rpc.script("eth_getLogs", logs)
    assert reader_for(rpc.url, log_block_range=10).events_between(0, 19) == []
    accepted = [(int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16)) for p in rpc.seen("eth_getLogs")
                if int(p[0]["toBlock"], 16) - int(p[0]["fromBlock"], 16) < 3]
    covered = [block for low, high in accepted for block in range(low, high + 1)]
    assert covered == list(range(20))  # every block read once, in order
    assert all(str(p[0]["address"]).lower().strip("[]'") == ESCROW for p in rpc.seen("eth_getLogs"))


def test_a_wrong_chain_or_an_address_without_code_is_refused(rpc):
    rpc.script("eth_chainId", ("result", "0x1"))
    with pytest.raises(ChainMisconfigured, match="chain id 1, not ESCROW_CHAIN_ID 137"):
        reader_for(rpc.url).verify()
    rpc.script("eth_chainId", ("result", "0x89"))
    rpc.script("eth_getCode", ("result", "0x"))
    with pytest.raises(ChainMisconfigured, match="no contract at ESCROW_CONTRACT_ADDRESS"):
        reader_for(rpc.url).verify()


def test_an_abi_without_what_the_mapping_reads_is_refused(tmp_path):
    abi = json.loads(open(settings.ESCROW_ABI_PATH).read())  # noqa: SIM115
    path = tmp_path / "other.abi.json"
    path.write_text(json.dumps([item for item in abi if item.get("name") != "FeeRefunded"]))
    with pytest.raises(ChainMisconfigured, match="has no FeeRefunded"):
        reader_for("http://127.0.0.1:1/rpc", abi_path=path)


# --- The factory and the start-up check ---------------------------------------------------------------


@pytest.fixture
def fresh_readers():
    escrow_chain._readers.clear()
    yield
    escrow_chain._readers.clear()


def test_no_rpc_and_no_sandbox_means_no_reader(settings, fresh_readers):
    settings.ESCROW_RPC_URL, settings.PARSEC_SANDBOX_ADMIN_KEY = "", ""
    assert escrow_chain.escrow_reader() is None


def test_the_embedded_default_reads_the_sandboxs_chain(parsec_settings, sandbox, fresh_readers):
    parsec_settings.ESCROW_RPC_URL, parsec_settings.PARSEC_SANDBOX_ADMIN_KEY = "", sandbox.admin_key
    reader = escrow_chain.escrow_reader()
    assert reader.rpc_url == f"{sandbox.base_url}/_chain"
    assert escrow_chain.escrow_reader() is reader  # verified once, then reused
    assert reader.fee_record("0x" + "ef" * 32) is None


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ESCROW_CHAIN_ID", 80002, "serves chain id 137, not ESCROW_CHAIN_ID 80002"),
    ("ESCROW_CONTRACT_ADDRESS", "0x" + "12" * 20, "no contract at ESCROW_CONTRACT_ADDRESS"),
    # Mock USDC: code at the address, but not a contract that answers the ABI's feeRecords.
    ("ESCROW_CONTRACT_ADDRESS", "0x2791bca1f2de4661ed88a30c99a7a9449aa84174", "does not answer feeRecords as ESCROW_ABI_PATH describes"),
])
def test_a_wrong_chain_or_address_is_refused_at_start(parsec_settings, sandbox, fresh_readers, name, value, message):
    parsec_settings.ESCROW_RPC_URL = f"{sandbox.base_url}/_chain"
    setattr(parsec_settings, name, value)
    with pytest.raises(ChainMisconfigured, match=message):
        escrow_chain.escrow_reader()
    with pytest.raises(SystemCheckError, match=r"parsec\.E001"):
        call_command("check", "--deploy", "--tag", "parsec")


# --- Reading a real chain: cursor, confirmations, a reorg ------------------------------------------------


@pytest.fixture(scope="module")
def quiet_sandbox(tmp_path_factory):
    """Blocks only when asked, and eth_getLogs capped at 4 blocks (the reader must page and halve)."""
    proc = start_sandbox(tmp_path_factory.mktemp("quiet-sandbox"),
                         extra_env={"SANDBOX_CHAIN_BLOCK_SECONDS": "0", "SANDBOX_CHAIN_MAX_LOG_BLOCKS": "4"})
    yield proc
    stop_sandbox(proc)


def alice_fee_order(sandbox) -> tuple[str, str, str]:
    client = sandbox.sdk()
    alice = next(u for u in client.builder.users.list(limit=100).users if u.external_id == "demo-alice")
    market = next(m for m in client.markets.with_raw_response.list(exchanges=["polymarket"], limit=100).http_response.json()["markets"]
                  if m["market_type"] == "binary")
    auth = sandbox.control("POST", f"wallets/{alice.wallet.eoa_address}/sign-fee-auth", json={"fee_amount": "100000"}).json()["fee_auth"]
    order = client.orders.create(exchange="polymarket", market_id=market["condition_id"], outcome="Yes", side="buy", price=0.05,
                                 size=2000, fee_auth=auth, payer_address=auth["payer"],
                                 extra_headers={"X-Builder-Customer-Id": alice.customer_id})
    return auth["order_id"], order.id, alice.customer_id


@pytest.mark.django_db
def test_a_reorg_that_drops_a_refund_is_reported_and_the_refund_read_again_when_mined(quiet_sandbox):
    sandbox = quiet_sandbox
    reader = reader_for(f"{sandbox.base_url}/_chain", confirmations=3, log_block_range=10)
    reader.verify()
    order_id, parsec_order_id, customer = alice_fee_order(sandbox)
    sandbox.mine()
    pulled = reader.follow(name="reorg")
    assert [(e.name, e.order_id, e.amount, e.final) for e in pulled.events] == [("FeePulled", order_id, 100_000, False)]
    assert pulled.dropped == [] and pulled.caught_up

    snapshot = sandbox.control("POST", "chain/snapshot").json()
    sandbox.sdk().orders.cancel(parsec_order_id, exchange="polymarket", extra_headers={"X-Builder-Customer-Id": customer})
    sandbox.mine()
    refunded = reader.follow(name="reorg")
    first_refund = next(e for e in refunded.events if e.name == "FeeRefunded")
    assert (first_refund.amount, first_refund.reason, first_refund.final) == (100_000, "cancelled", False)
    assert first_refund.tx_hash and first_refund.block_number == refunded.head.number
    record = reader.fee_record(order_id)
    assert (record.state, record.refund_amount, record.final) == ("refunded", 100_000, False)

    reverted = sandbox.control("POST", "chain/revert", json={"snapshot_id": snapshot["snapshot_id"]}).json()
    assert reverted["blocks_dropped"] == 1
    after = reader.follow(name="reorg")
    assert [d["key"] for d in after.dropped] == [first_refund.key]
    assert [e.name for e in after.events] == ["FeePulled"]
    assert reader.fee_record(order_id).state == "pulled"

    sandbox.mine()  # the dropped refund is mined again, in a new block
    again = reader.follow(name="reorg")
    second_refund = next(e for e in again.events if e.name == "FeeRefunded")
    assert second_refund.key != first_refund.key and second_refund.amount == 100_000
    assert again.dropped == []
    assert reader.fee_record(order_id).state == "refunded"

    for _ in range(3):
        sandbox.mine()
    settled = reader.follow(name="reorg")
    assert all(e.final for e in settled.events) and settled.final_through >= second_refund.block_number
    assert reader.fee_record(order_id).final is True
    cursor = EscrowChainCursor.objects.get(name="reorg")
    assert cursor.final_block == settled.final_through and cursor.unfinal == []

    # A new process resumes from the cursor: nothing is read twice.
    resumed = reader_for(f"{sandbox.base_url}/_chain", confirmations=3, log_block_range=10).follow(name="reorg")
    assert resumed.events == [] and resumed.dropped == []
    history = reader.events(order_id)
    assert [e.name for e in history] == ["FeePulled", "FeeRefunded"] and history[1].key == second_refund.key
