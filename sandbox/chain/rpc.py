"""``POST /_chain``: the sandbox chain's Ethereum JSON-RPC endpoint, as a Polygon RPC provider serves it.

JSON-RPC 2.0 over HTTP (single calls and batches), answers in its shape: ``{"jsonrpc", "id",
"result"}`` or ``{"jsonrpc", "id", "error": {"code", "message"[, "data"]}}`` (-32700 parse error,
-32600 invalid request, -32601 unknown method, -32602 invalid params, 3 execution reverted,
-32005 a limit exceeded, -32603 internal error). Quantities are 0x-hex, data 0x-hex bytes, as
web3.py's HTTPProvider expects of any node. Like public Polygon providers, ``eth_getLogs``
refuses ranges over SANDBOX_CHAIN_MAX_LOG_BLOCKS blocks or answers over
SANDBOX_CHAIN_MAX_LOG_RESULTS logs, so a reader has to page through block ranges.

Read-only except ``eth_sendRawTransaction``, which queues a wallet's signed transaction for the
next block (sandbox.chain.mempool); nothing here needs the admin key, as on a public RPC.
"""

from __future__ import annotations

import json
import logging
import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from eth.exceptions import BlockNotFound, HeaderNotFound, TransactionNotFound
from eth_bloom import BloomFilter

from sandbox import clock, conf
from sandbox.chain import mempool, node

logger = logging.getLogger("sandbox.chain")
HEX = re.compile(r"^0x[0-9a-fA-F]*$")
MAX_BATCH = 1000


class RPCError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def invalid(message: str) -> RPCError:
    return RPCError(-32602, f"invalid params: {message}")


# --- Encoding ---------------------------------------------------------------------------------

def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_json(value):
    """eth-tester's serialised objects (snake_case keys, ints, bytes) as JSON-RPC shapes."""
    if isinstance(value, dict):
        return {_camel(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return quantity(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return data(bytes(value))
    return str(value)


def _hex_bytes(value, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not HEX.match(value) or len(value) % 2:
        raise invalid(f"{name} must be 0x-prefixed hex")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        raise invalid(f"{name} must be {size} bytes")
    return raw


def _hex_int(value, name: str) -> int:
    if not isinstance(value, str) or not HEX.match(value) or len(value) < 3:
        raise invalid(f"{name} must be a 0x-prefixed hex quantity")
    return int(value, 16)


# --- Blocks, transactions, receipts, logs ---------------------------------------------------

def _block_number(chain: node.Chain, tag, *, required: bool = True) -> int | None:
    head = chain.head.block_number
    if tag is None:
        tag = "latest"
    if tag in ("latest", "pending", "safe", "finalized"):
        return head
    if tag == "earliest":
        return 0
    number = _hex_int(tag, "block")
    if number > head:
        if required:
            raise RPCError(-32000, f"header not found: block {number} is past the head {head}")
        return None
    return number


def _receipt_json(chain: node.Chain, block, index: int, receipts, first_log_index: int) -> dict:
    tx = block.transactions[index]
    receipt = receipts[index]
    previous = receipts[index - 1].gas_used if index else 0
    base_fee = getattr(block.header, "base_fee_per_gas", 0)
    price = min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas) if hasattr(tx, "max_fee_per_gas") else tx.gas_price
    return {
        "transactionHash": data(tx.hash), "transactionIndex": quantity(index), "blockHash": data(block.hash),
        "blockNumber": quantity(block.number), "from": data(tx.sender), "to": data(tx.to) if tx.to else None,
        "cumulativeGasUsed": quantity(receipt.gas_used), "gasUsed": quantity(receipt.gas_used - previous),
        "effectiveGasPrice": quantity(price), "contractAddress": None,
        "logs": [_log_json(block, index, log, first_log_index + i) for i, log in enumerate(receipt.logs)],
        "logsBloom": data(receipt.bloom.to_bytes(256, "big")), "status": quantity(1 if receipt.state_root == b"\x01" else 0),
        "type": quantity(getattr(tx, "type_id", None) or 0),
    }


def _log_json(block, tx_index: int, log, log_index: int) -> dict:
    return {
        "address": data(log.address), "topics": [data(topic.to_bytes(32, "big")) for topic in log.topics],
        "data": data(log.data), "blockNumber": quantity(block.number), "blockHash": data(block.hash),
        "transactionHash": data(block.transactions[tx_index].hash), "transactionIndex": quantity(tx_index),
        "logIndex": quantity(log_index), "removed": False,
    }


def _block_json(chain: node.Chain, block, full: bool) -> dict:
    from eth_tester.backends.pyevm.serializers import serialize_block

    result = to_json(serialize_block(block, full, False))
    result["miner"] = result.pop("coinbase", data(b"\x00" * 20))
    result["uncles"] = []
    return result


def _located(chain: node.Chain, tx_hash: bytes):
    try:
        number, index = chain.chain.chaindb.get_transaction_index(tx_hash)
    except TransactionNotFound:
        return None, None
    if number > chain.head.block_number:
        return None, None
    block = chain.chain.get_canonical_block_by_number(number)
    if index >= len(block.transactions) or block.transactions[index].hash != tx_hash:
        return None, None
    return block, index


# --- Methods ----------------------------------------------------------------------------------

def _call_args(chain: node.Chain, params) -> tuple[dict, int]:
    if not isinstance(params, list) or not params or not isinstance(params[0], dict):
        raise invalid("expected [transaction, block]")
    tx = params[0]
    number = _block_number(chain, params[1] if len(params) > 1 else "latest")
    call = {
        "to": _hex_bytes(tx.get("to"), "to", 20),
        "from": _hex_bytes(tx["from"], "from", 20) if tx.get("from") else b"\x00" * 20,
        "data": _hex_bytes(tx.get("data") or tx.get("input") or "0x", "data"),
        "gas": _hex_int(tx["gas"], "gas") if tx.get("gas") else 50_000_000,
        "value": _hex_int(tx["value"], "value") if tx.get("value") else 0,
    }
    return call, number


def _execute(chain: node.Chain, call: dict, number: int):
    header = chain.chain.chaindb.get_canonical_block_header_by_number(number)
    computation = node.static_call(chain.chain.get_vm(header), sender=call["from"], to=call["to"], data=call["data"],
                                   gas=min(call["gas"], 50_000_000), value=call["value"])
    if computation.is_error:
        revert = computation.error.args[0] if computation.error.args and isinstance(computation.error.args[0], bytes) else b""
        raise RPCError(3, f"execution reverted: {node._revert_reason(computation)}", data(revert))
    return computation


def eth_call(chain, params):
    call, number = _call_args(chain, params)
    return data(_execute(chain, call, number).output)


def eth_estimateGas(chain, params):
    call, number = _call_args(chain, params)
    used = _execute(chain, call, number).get_gas_used()
    return quantity(used + used // 5 + 21_000)


def eth_getLogs(chain, params):
    if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
        raise invalid("expected [filter]")
    spec = params[0]
    if spec.get("blockHash"):
        try:
            header = chain.chain.chaindb.get_block_header_by_hash(_hex_bytes(spec["blockHash"], "blockHash", 32))
        except HeaderNotFound:
            raise RPCError(-32000, "unknown block") from None
        start = end = header.block_number
    else:
        start = _block_number(chain, spec.get("fromBlock", "latest"))
        end = _block_number(chain, spec.get("toBlock", "latest"))
        if start > end:
            raise invalid("fromBlock is after toBlock")
        if end - start + 1 > conf.SANDBOX_CHAIN_MAX_LOG_BLOCKS:
            raise RPCError(-32005, f"block range is too large: at most {conf.SANDBOX_CHAIN_MAX_LOG_BLOCKS} blocks per eth_getLogs")
    addresses = spec.get("address") or []
    addresses = [addresses] if isinstance(addresses, str) else addresses
    addresses = [_hex_bytes(a, "address", 20) for a in addresses]
    topics = []
    for position in spec.get("topics") or []:
        if position is None:
            topics.append([])
        else:
            position = [position] if isinstance(position, str) else position
            topics.append([_hex_bytes(t, "topic", 32) for t in position])
    wanted_addresses = set(addresses)
    wanted_topics = [{int.from_bytes(t, "big") for t in position} for position in topics]
    found = []
    chaindb = chain.chain.chaindb
    for number in range(start, end + 1):
        header = chaindb.get_canonical_block_header_by_number(number)
        if not header.bloom:
            continue
        bloom = BloomFilter(header.bloom)
        if addresses and not any(address in bloom for address in addresses):
            continue
        if any(position and not any(t in bloom for t in position) for position in topics):
            continue
        block = chain.chain.get_canonical_block_by_number(number)
        receipts = block.get_receipts(chaindb)
        log_index = 0
        for tx_index, receipt in enumerate(receipts):
            for log in receipt.logs:
                match = (not wanted_addresses or log.address in wanted_addresses) and all(
                    not position or (i < len(log.topics) and log.topics[i] in position) for i, position in enumerate(wanted_topics))
                if match:
                    found.append(_log_json(block, tx_index, log, log_index))
                    if len(found) > conf.SANDBOX_CHAIN_MAX_LOG_RESULTS:
                        raise RPCError(-32005, f"query returned more than {conf.SANDBOX_CHAIN_MAX_LOG_RESULTS} results")
                log_index += 1
    return found


def eth_getBlockByNumber(chain, params):
    if not isinstance(params, list) or not params:
        raise invalid("expected [block, full_transactions]")
    number = _block_number(chain, params[0], required=False)
    if number is None:
        return None
    return _block_json(chain, chain.chain.get_canonical_block_by_number(number), bool(params[1]) if len(params) > 1 else False)


def eth_getBlockByHash(chain, params):
    if not isinstance(params, list) or not params:
        raise invalid("expected [hash, full_transactions]")
    try:
        block = chain.chain.get_block_by_hash(_hex_bytes(params[0], "hash", 32))
    except (BlockNotFound, HeaderNotFound):
        return None
    if block.number > chain.head.block_number or chain.chain.chaindb.get_canonical_block_hash(block.number) != block.hash:
        return None
    return _block_json(chain, block, bool(params[1]) if len(params) > 1 else False)


def eth_getTransactionReceipt(chain, params):
    if not isinstance(params, list) or len(params) != 1:
        raise invalid("expected [hash]")
    block, index = _located(chain, _hex_bytes(params[0], "hash", 32))
    if block is None:
        return None
    receipts = block.get_receipts(chain.chain.chaindb)
    first = sum(len(receipt.logs) for receipt in receipts[:index])
    return _receipt_json(chain, block, index, receipts, first)


def eth_getTransactionByHash(chain, params):
    from eth_tester.backends.pyevm.serializers import serialize_transaction

    if not isinstance(params, list) or len(params) != 1:
        raise invalid("expected [hash]")
    block, index = _located(chain, _hex_bytes(params[0], "hash", 32))
    if block is None:
        return None
    return to_json(serialize_transaction(block, block.transactions[index], index, False))


def _account_state(chain, params, name: str):
    if not isinstance(params, list) or not params:
        raise invalid("expected [address, block]")
    address = _hex_bytes(params[0], "address", 20)
    number = _block_number(chain, params[1] if len(params) > 1 else "latest")
    header = chain.chain.chaindb.get_canonical_block_header_by_number(number)
    state = chain.chain.get_vm(header).state
    return getattr(state, name)(address)


def eth_getCode(chain, params):
    return data(_account_state(chain, params, "get_code"))


def eth_getBalance(chain, params):
    return quantity(_account_state(chain, params, "get_balance"))


def eth_getTransactionCount(chain, params):
    return quantity(_account_state(chain, params, "get_nonce"))


def eth_sendRawTransaction(chain, params):
    if not isinstance(params, list) or len(params) != 1:
        raise invalid("expected [signed transaction]")
    raw = _hex_bytes(params[0], "transaction")
    try:
        tx = chain.chain.get_vm(chain.chain.header).get_transaction_builder().decode(raw)
        sender = tx.sender
    except Exception as error:
        raise RPCError(-32602, f"invalid params: the transaction does not decode: {error}") from None
    if getattr(tx, "chain_id", node.CHAIN_ID) != node.CHAIN_ID:
        raise RPCError(-32000, f"invalid chain id {tx.chain_id}: this chain is {node.CHAIN_ID}")
    state = chain.chain.get_vm(chain.chain.get_canonical_head()).state
    if tx.nonce < state.get_nonce(sender):
        raise RPCError(-32000, "nonce too low")
    mempool.raw(raw_hex=data(raw), tx_hash=data(tx.hash), now=clock.now())
    return data(tx.hash)


def _constant(value):
    return lambda chain, params: value


METHODS = {
    "web3_clientVersion": _constant("parsec-sandbox/py-evm"),
    "net_version": _constant(str(node.CHAIN_ID)),
    "net_listening": _constant(True),
    "eth_chainId": _constant(quantity(node.CHAIN_ID)),
    "eth_syncing": _constant(False),
    "eth_accounts": _constant([]),
    "eth_maxPriorityFeePerGas": _constant("0x0"),
    "eth_blockNumber": lambda chain, params: quantity(chain.head.block_number),
    "eth_gasPrice": lambda chain, params: quantity(chain.chain.header.base_fee_per_gas * 2 + 10**9),
    "eth_call": eth_call,
    "eth_estimateGas": eth_estimateGas,
    "eth_getLogs": eth_getLogs,
    "eth_getBlockByNumber": eth_getBlockByNumber,
    "eth_getBlockByHash": eth_getBlockByHash,
    "eth_getTransactionReceipt": eth_getTransactionReceipt,
    "eth_getTransactionByHash": eth_getTransactionByHash,
    "eth_getCode": eth_getCode,
    "eth_getBalance": eth_getBalance,
    "eth_getTransactionCount": eth_getTransactionCount,
    "eth_sendRawTransaction": eth_sendRawTransaction,
}


def _error(request_id, code: int, message: str, error_data=None) -> dict:
    error = {"code": code, "message": message}
    if error_data is not None:
        error["data"] = error_data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def handle(call) -> dict:
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
        return _error(call.get("id") if isinstance(call, dict) else None, -32600, "invalid request")
    request_id = call.get("id")
    method = METHODS.get(call["method"])
    if method is None:
        return _error(request_id, -32601, f"the method {call['method']} does not exist/is not available")
    params = call.get("params", [])
    chain = node.get()
    try:
        with chain.lock:
            result = method(chain, params)
    except RPCError as error:
        return _error(request_id, error.code, error.message, error.data)
    except Exception:
        logger.exception("JSON-RPC %s failed", call["method"])
        return _error(request_id, -32603, "internal error")
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


@csrf_exempt
def view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse(_error(None, -32600, "JSON-RPC takes POST requests"), status=405)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse(_error(None, -32700, "parse error"))
    if isinstance(body, list):
        if not body or len(body) > MAX_BATCH:
            return JsonResponse(_error(None, -32600, f"a batch holds 1 to {MAX_BATCH} calls"))
        return JsonResponse([handle(call) for call in body], safe=False)
    return JsonResponse(handle(body))

