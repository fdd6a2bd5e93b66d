"""The sandbox's control plane under ``/_sandbox/`` (not part of Parsec's API).

Every endpoint needs the header ``X-Sandbox-Admin-Key`` equal to PARSEC_SANDBOX_ADMIN_KEY (when
the variable is empty a random key is generated and printed at start); 401 otherwise. JSON in
and out; errors in Parsec's shape ``{error, code, retryable}``. The views only parse and
render: the work is done by sandbox.clock, sandbox.engine, sandbox.escrow, sandbox.faults and
sandbox.ratelimit.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import clock, conf, engine, faults, fee_split, lifecycle, ratelimit, render, seed, signing
from sandbox.chain import mempool
from sandbox.errors import (
    INT32_MAX,
    INT64_MAX,
    UINT256_MAX,
    ParsecAPIError,
    bad_request,
    decimal_or_400,
    integer_or_400,
    missing_parameter,
    whole_number,
)
from sandbox.http import error_response
from sandbox.models import EXCHANGES_TRADING, Builder, Customer, FaultRule, Market, Wallet

logger = logging.getLogger("sandbox.control")
ADMIN_HEADER = "X-Sandbox-Admin-Key"
BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
DB = "sandbox"
_generated_key: str | None = None


def admin_key() -> str:
    global _generated_key
    configured = getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", "")
    if configured:
        return configured
    if _generated_key is None:
        _generated_key = secrets.token_urlsafe(24)
    return _generated_key


def startup_note() -> str:
    """The line the server prints at start (the key itself only when it was generated)."""
    if getattr(settings, "PARSEC_SANDBOX_ADMIN_KEY", ""):
        return "control plane on /_sandbox/ (X-Sandbox-Admin-Key from PARSEC_SANDBOX_ADMIN_KEY)"
    return f"control plane on /_sandbox/ with the generated X-Sandbox-Admin-Key: {admin_key()}"


def control_view(handlers: dict):
    """One view for a path: ``{"GET": fn, "POST": fn}``; fn(request, body, **kwargs) -> (status, payload)."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs) -> HttpResponse:
        try:
            given = request.headers.get(ADMIN_HEADER, "")
            if not given or not hmac.compare_digest(given.encode(), admin_key().encode()):
                raise ParsecAPIError(401, "unauthorized", f"missing or invalid {ADMIN_HEADER} header")
            handler = handlers.get(request.method)
            if handler is None:
                raise ParsecAPIError(405, "bad_request", f"method {request.method} not allowed")
            body = {}
            if request.method in ("POST", "PATCH", "PUT") and request.body:
                try:
                    body = json.loads(request.body)
                except (ValueError, UnicodeDecodeError):
                    raise bad_request("request body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise bad_request("request body must be a JSON object")
            status, payload = handler(request, body, **kwargs)
        except ParsecAPIError as error:
            return error_response(error)
        except Exception:
            logger.exception("control plane failed: %s %s", request.method, request.path)
            return error_response(ParsecAPIError(500, "internal_error", "internal error"))
        return HttpResponse(status=status) if payload is None else JsonResponse(payload, status=status, safe=False)

    return view


# --- Parsing helpers ----------------------------------------------------------------

def _int(body: dict, name: str, *, minimum: int, maximum: int = INT32_MAX, required: bool = True, default=None) -> int | None:
    """An integer field of the body within [minimum, maximum] (by default what a 32-bit column holds)."""
    value = body.get(name)
    if value is None:
        if required:
            raise missing_parameter(f"{name} is required")
        return default
    return integer_or_400(value, name, low=minimum, high=maximum)


def _market(parsec_id: str) -> Market:
    market = Market.objects.filter(parsec_id=parsec_id).first()
    if market is None:
        raise ParsecAPIError(404, "market_not_found", f"market not found: {parsec_id}")
    return market


def _customer(customer_id) -> Customer:
    if not isinstance(customer_id, str):
        raise missing_parameter("customer_id is required")
    try:
        customer = Customer.objects.filter(customer_id=customer_id.strip()).first()
    except Exception:  # a malformed UUID
        customer = None
    if customer is None:
        raise ParsecAPIError(404, "not_found", f"customer not found: {customer_id}")
    return customer


def _builder(key_or_id: str) -> Builder:
    owner = Customer.objects.select_related("builder").filter(api_key=key_or_id, kind=Customer.Kind.BUILDER).first()
    if owner is not None:
        return owner.builder
    pk = whole_number(key_or_id, high=INT64_MAX)
    builder = Builder.objects.filter(pk=pk).first() if pk is not None else None
    if builder is None:
        raise ParsecAPIError(404, "not_found", "builder not found (give its API key or its id)")
    return builder


# --- Clock --------------------------------------------------------------------------

def _clock_state() -> dict:
    now = clock.now()
    return {"now": now.isoformat().replace("+00:00", "Z"), "unix": int(now.timestamp()), "offset_seconds": clock.offset(),
            # When the makers requote next (a test or a rehearsal that reads a book and trades on it).
            "maker_step_seconds": conf.SANDBOX_MM_STEP_SECONDS,
            "next_requote_in_seconds": round(engine.seconds_to_next_requote(now), 3)}


def get_clock(request, body):
    return 200, _clock_state()


def advance_clock(request, body):
    seconds = body.get("seconds")
    if seconds is None:
        raise missing_parameter("seconds is required")
    seconds = decimal_or_400(seconds, "seconds")
    if seconds < 0 or seconds > 10 * 365 * 86400:
        raise bad_request("seconds must be between 0 and ten years")
    # Time passing means blocks: what is queued is mined at the old time, what the tick decides
    # (the escrow monitor's refunds) at the new one.
    chain_node().mine()
    clock.advance(float(seconds))
    chain_node().mine()
    return 200, _clock_state()


# --- Markets and money ----------------------------------------------------------------

def move_market(request, body, parsec_id):
    market = _market(parsec_id)
    if body.get("price") is None:
        raise missing_parameter("price is required")
    price = decimal_or_400(body["price"], "price")
    if not Decimal(0) < price < Decimal(1):
        raise bad_request("price must be between 0 and 1 (exclusive)")
    outcome = body.get("outcome")
    if outcome is not None and not isinstance(outcome, str):
        raise bad_request("outcome must be a string")
    return 200, engine.move_market(market=market, price=price, outcome=outcome)


OUTCOME_NAME = re.compile(r"^(?!\d+$)[^,\x00-\x1f]{1,100}$")  # not all digits: digits name an outcome by index
EVENT_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
TICK_SIZES = (Decimal("0.01"), Decimal("0.001"))


def create_market(request, body):
    """A fresh market for a rehearsal or a test, so that resolving it touches no seeded market."""
    exchange = body.get("exchange")
    if exchange not in EXCHANGES_TRADING:
        raise bad_request(f"exchange must be one of {', '.join(EXCHANGES_TRADING)}")
    question = body.get("question")
    if question is None:
        raise missing_parameter("question is required")
    if not isinstance(question, str) or not question.strip() or len(question) > 300:
        raise bad_request("question must be a non-empty string of at most 300 characters")
    outcomes = body.get("outcomes", ["Yes", "No"])
    if (not isinstance(outcomes, list) or not 2 <= len(outcomes) <= 10
            or not all(isinstance(name, str) and OUTCOME_NAME.match(name.strip()) for name in outcomes)
            or len({name.strip().lower() for name in outcomes}) != len(outcomes)):
        raise bad_request("outcomes must be 2 to 10 distinct names (not all digits, no commas)")
    outcomes = [name.strip() for name in outcomes]
    tick = decimal_or_400(body.get("tick_size", "0.01"), "tick_size")
    if tick not in TICK_SIZES:
        raise bad_request("tick_size must be 0.01 or 0.001")
    price = decimal_or_400(body.get("price", "0.5"), "price")
    if not Decimal("0.02") <= price <= Decimal("0.98") or price % tick:
        raise bad_request(f"price must be between 0.02 and 0.98, on the tick {tick}")
    minimum = decimal_or_400(body.get("min_order_size", 5 if exchange == "polymarket" else 1), "min_order_size")
    if not Decimal(0) < minimum <= Decimal(10_000) or minimum != minimum.quantize(Decimal("0.01")):
        raise bad_request("min_order_size must be positive, at most 10000, with at most 2 decimals")
    end_date = clock.now() + timedelta(days=30)
    if body.get("end_date") is not None:
        try:
            end_date = datetime.fromisoformat(str(body["end_date"]).replace("Z", "+00:00"))
        except ValueError:
            raise bad_request("end_date must be an ISO 8601 date-time") from None
        if end_date.tzinfo is None:
            raise bad_request("end_date must carry a time zone (e.g. 2026-12-01T00:00:00Z)")
    event_key = body.get("event_id")
    if event_key is not None:
        if not isinstance(event_key, str) or not EVENT_KEY.match(event_key.removeprefix("ev:")):
            raise bad_request("event_id must be letters, digits, '.', '_' or '-' (an optional 'ev:' prefix)")
        event_key = event_key.removeprefix("ev:")
    makers_walk = body.get("makers_walk", True)
    if not isinstance(makers_walk, bool):
        raise bad_request("makers_walk must be a boolean")
    market = seed.add_market(exchange=exchange, question=question.strip(), outcomes=outcomes, price=price, tick_size=tick,
                             min_order_size=minimum, end_date=end_date, event_key=event_key, makers_walk=makers_walk)
    lifecycle.close_due_markets(now=clock.now())  # an end date already passed closes it at once
    market.refresh_from_db()
    return 201, render.markets([market])[0]


def market_state(request, body, parsec_id):
    market = _market(parsec_id)
    return 200, {**lifecycle.state(market), "settlements": lifecycle.settlements(market=market)}


def close_market(request, body, parsec_id):
    return 200, lifecycle.close_market(market=_market(parsec_id))


def resolve_market(request, body, parsec_id):
    market = _market(parsec_id)
    outcome = body.get("outcome")
    if outcome is None:
        raise missing_parameter("outcome is required")
    if not isinstance(outcome, str) or not outcome.strip():
        raise bad_request("outcome must be the name of one of the market's outcomes")
    return 200, lifecycle.resolve_market(market=market, winning_outcome=outcome)


def void_market(request, body, parsec_id):
    market = _market(parsec_id)
    rule = body.get("rule")
    if rule is not None and rule not in conf.VOID_RULES:
        raise bad_request(f"rule must be one of {', '.join(conf.VOID_RULES)}")
    return 200, lifecycle.void_market(market=market, rule=rule)


def list_settlements(request, body):
    filters = {}
    if request.GET.get("customer_id"):
        filters["customer"] = _customer(request.GET["customer_id"])
    if request.GET.get("exchange"):
        if request.GET["exchange"] not in EXCHANGES_TRADING:
            raise bad_request(f"exchange must be one of {', '.join(EXCHANGES_TRADING)}")
        filters["exchange"] = request.GET["exchange"]
    if request.GET.get("parsec_id"):
        filters["market"] = _market(request.GET["parsec_id"])
    return 200, {"settlements": lifecycle.settlements(**filters)}


def credit(request, body):
    customer = _customer(body.get("customer_id"))
    exchange = body.get("exchange")
    if exchange not in EXCHANGES_TRADING:
        raise bad_request(f"exchange must be one of {', '.join(EXCHANGES_TRADING)}")
    if body.get("amount_usdc") is None:
        raise missing_parameter("amount_usdc is required")
    amount = decimal_or_400(body["amount_usdc"], "amount_usdc")
    base_units = amount * 1_000_000
    if amount <= 0 or base_units != base_units.to_integral_value() or amount > Decimal(10**12):
        raise bad_request("amount_usdc must be a positive USDC amount with at most 6 decimals")
    balance = engine.credit(customer=customer, exchange=exchange, amount=int(base_units), reason="control_credit")
    return 200, {"customer_id": str(customer.customer_id), "exchange": exchange, "credited": str(int(base_units)),
                 "available": str(balance.available), "reserved": str(balance.reserved)}


# --- Builders and rate limits -----------------------------------------------------------

def _builder_state(builder: Builder) -> dict:
    return {"builder_id": builder.pk, "name": builder.name, "tier": builder.tier, "qps_pool": builder.qps_pool,
            "fee_escrow_enabled": builder.fee_escrow_enabled, "affiliate_fee_bps": builder.affiliate_fee_bps}


def set_pool(request, body, key_or_id):
    builder = _builder(key_or_id)
    builder.qps_pool = _int(body, "qps_pool", minimum=1)
    builder.save(update_fields=["qps_pool"])
    return 200, _builder_state(builder)


def set_builder_escrow(request, body, key_or_id):
    """Change the builder's escrow config (Parsec admins do this during onboarding)."""
    builder = _builder(key_or_id)
    fields = []
    if "fee_escrow_enabled" in body:
        if not isinstance(body["fee_escrow_enabled"], bool):
            raise bad_request("fee_escrow_enabled must be a boolean")
        builder.fee_escrow_enabled = body["fee_escrow_enabled"]
        fields.append("fee_escrow_enabled")
    for name, low, high in (("affiliate_fee_bps", 0, 10_000), ("min_fee_bps", 0, 10_000), ("fee_bps", 1, 10_000)):
        if name in body:
            setattr(builder, name, _int(body, name, minimum=low, maximum=high))
            fields.append(name)
    if "tier" in body:
        if body["tier"] not in fee_split.TIER_SHARE_BPS:
            raise bad_request(f"tier must be one of {', '.join(fee_split.TIER_SHARE_BPS)}")
        builder.tier = body["tier"]
        fields.append("tier")
    if not fields:
        raise bad_request("nothing to change")
    with transaction.atomic(using=DB):
        builder.save(update_fields=fields)
        if {"affiliate_fee_bps", "tier"} & set(fields):
            mempool.split(builder=builder, share_bps=fee_split.affiliate_share_bps(builder), now=clock.now())
    return 200, _builder_state(builder)


def get_limits(request, body):
    return 200, {"enabled": ratelimit.enabled()}


def set_limits(request, body):
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise bad_request("enabled must be a boolean")
    ratelimit.set_enabled(enabled)
    ratelimit.reset()
    return 200, {"enabled": ratelimit.enabled()}


# --- Faults ---------------------------------------------------------------------------

def list_faults(request, body):
    return 200, {"faults": [faults.render(rule) for rule in FaultRule.objects.order_by("pk")]}


def add_fault(request, body):
    kind = body.get("kind")
    if kind not in FaultRule.Kind.values:
        raise bad_request(f"kind must be one of {', '.join(FaultRule.Kind.values)}")
    scope = {}
    for name in ("endpoint", "exchange", "customer_id"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 60):
            raise bad_request(f"{name} must be a string")
        scope[name] = (value or "").strip().lower() if name == "exchange" else (value or "").strip()
    if scope["customer_id"]:
        scope["customer_id"] = str(_customer(scope["customer_id"]).customer_id)
    probability = decimal_or_400(body.get("probability", 1), "probability")
    if not Decimal(0) < probability <= Decimal(1) or probability != probability.quantize(Decimal("0.0001")):
        raise bad_request("probability must be in (0, 1] with at most 4 decimals")
    latency_ms = _int(body, "latency_ms", minimum=0, maximum=120_000, required=False, default=0)
    if kind in ("latency", "timeout") and not latency_ms:
        raise bad_request(f"latency_ms is required for a {kind} fault")
    rule = FaultRule.objects.create(
        kind=kind, **scope, probability=probability,
        remaining=_int(body, "count", minimum=1, required=False),
        latency_ms=latency_ms, retry_after=_int(body, "retry_after", minimum=1, required=False, default=1),
        seed=_int(body, "seed", minimum=-INT64_MAX - 1, maximum=INT64_MAX, required=False), created_at=clock.now(),
    )
    faults.reload()
    return 201, faults.render(rule)


def clear_faults(request, body):
    deleted, _ = FaultRule.objects.all().delete()
    faults.reload(reseed=True)
    return 200, {"deleted": deleted}


def delete_fault(request, body, fault_id):
    deleted, _ = FaultRule.objects.filter(pk=fault_id).delete()
    if not deleted:
        raise ParsecAPIError(404, "not_found", f"fault not found: {fault_id}")
    faults.reload()
    return 204, None


# --- Chain (the fee escrow's Polygon stand-in; reads go through POST /_chain) ------------------

def chain_status(request, body):
    return 200, chain_node().status()


def chain_mine(request, body):
    """Mine now: whatever the mempool holds goes into the next block (tests need no waiting)."""
    chain = chain_node()
    chain.mine()
    return 200, chain.status()


def chain_snapshot(request, body):
    return 201, chain_node().snapshot()


def chain_revert(request, body):
    """Back to a snapshot as a reorg would: its later blocks are gone, their transactions are
    mined again in the next blocks."""
    snapshot_id = _int(body, "snapshot_id", minimum=1)
    try:
        return 200, chain_node().revert(snapshot_id)
    except LookupError as error:
        raise ParsecAPIError(404, "not_found", str(error)) from None


FAUCET_MAX_USDC = 10**6 * 10**6  # a million USDC per call
FAUCET_MAX_NATIVE = 1000 * 10**18


def chain_faucet(request, body):
    """Mock USDC (base units) and native coin (wei, for the wallet's own transactions, such as its
    approval of the escrow) for any address, in the next block."""
    address = body.get("address")
    if not isinstance(address, str) or not ADDRESS.match(address):
        raise bad_request("address must be a 0x-prefixed 40-hex-digit address")
    amounts = {}
    for name, high in (("usdc", FAUCET_MAX_USDC), ("native_wei", FAUCET_MAX_NATIVE)):
        value = body.get(name, "0")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.isdigit() or int(value) > high:
            raise bad_request(f"{name} must be an integer (string) between 0 and {high}")
        amounts[name] = int(value)
    if not any(amounts.values()):
        raise bad_request("give usdc (base units) or native_wei, or both")
    ops = mempool.faucet(address=address, usdc=amounts["usdc"], native=amounts["native_wei"], now=clock.now())
    return 202, {"address": address, "usdc": str(amounts["usdc"]), "native_wei": str(amounts["native_wei"]), "queued": len(ops)}


def chain_node():
    from sandbox.chain import node

    return node.get()


def sign_fee_auth(request, body, address):
    """Sign a PullFee with a seeded demo wallet's key (kept only in the sandbox); 404 for any other address."""
    wallet = None
    if ADDRESS.match(address):
        wallet = Wallet.objects.select_related("customer__builder").filter(
            eoa_address__iexact=address, demo_private_key__isnull=False, active=True,
        ).first()
    if wallet is None:
        raise ParsecAPIError(404, "not_found", "not a demo wallet of this sandbox")
    order_id = body.get("order_id") or "0x" + secrets.token_hex(32)
    if not isinstance(order_id, str) or not BYTES32.match(order_id):
        raise bad_request("order_id must be a 0x-prefixed bytes32 hex string")
    fee = body.get("fee_amount")
    if isinstance(fee, int) and not isinstance(fee, bool):
        fee = str(fee)
    fee_amount = whole_number(fee, high=UINT256_MAX)
    if not fee_amount:
        raise bad_request("fee_amount must be a positive integer (string) of USDC base units, at most a uint256")
    deadline = _int(body, "deadline", minimum=0, maximum=INT64_MAX, required=False)
    if deadline is None:
        deadline = int(clock.now().timestamp()) + 300
    builder = wallet.customer.builder
    contract = builder.escrow_contract_address if builder else Builder._meta.get_field("escrow_contract_address").default
    payer = wallet.eoa_address
    signature = signing.sign_pull_fee(private_key=wallet.demo_private_key, contract=contract, order_id=order_id.lower(),
                                      payer=payer, fee_amount=fee_amount, deadline=deadline)
    return 200, {
        "fee_auth": {"order_id": order_id.lower(), "payer": payer, "fee_amount": fee, "deadline": deadline, "signature": signature},
        "payer_address": payer,
        "signer_address": payer,
        "customer_id": str(wallet.customer.customer_id),
    }


# --- Reset ------------------------------------------------------------------------------

def reset(request, body):
    """Reset the control state (faults, rate-limit switch and buckets); trading data is kept
    (restart with ``--reset`` for a fresh database)."""
    with transaction.atomic(using=DB):
        deleted, _ = FaultRule.objects.all().delete()
    faults.reload(reseed=True)
    from sandbox.models import SandboxState

    SandboxState.objects.filter(key=ratelimit.ENABLED_KEY).delete()
    ratelimit.reset()
    return 200, {"faults_deleted": deleted, "rate_limits_enabled": ratelimit.enabled()}
