"""Builder-side services: end-users, onboarding, exchange credentials, the QPS pool.

Submitted exchange secrets are checked for shape and then forgotten: an exchange link keeps
only a SHA-256 fingerprint (to make a re-run with the same credentials a no-op).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Sum

from sandbox import clock, conf, engine, sql
from sandbox.errors import INT32_MAX, ParsecAPIError, bad_request, integer_or_400, missing_parameter
from sandbox.models import EXCHANGES_TRADING, Balance, Builder, Customer, Deposit, ExchangeLink, Wallet

DB = "sandbox"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
NOT_OWNED = "end-user not found or not owned by this builder"


def is_address(value) -> bool:
    return isinstance(value, str) and bool(ADDRESS.match(value))


def new_api_key() -> str:
    return f"pk_sandbox_{secrets.token_hex(16)}"


def random_address() -> str:
    return "0x" + secrets.token_hex(20)


# --- Accounts ---------------------------------------------------------------------

def open_account(*, builder: Builder | None, kind: str, external_id: str | None, now: datetime, api_key: str | None = None,
                 email: str = "", qps_limit: int | None = None, opening_balance: int | None = None) -> Customer:
    """Create an account and give it its opening balance on every trading exchange."""
    customer = Customer.objects.create(
        builder=builder, kind=kind, external_id=external_id, api_key=api_key, email=email,
        tier=conf.SANDBOX_END_USER_TIER, qps_limit=qps_limit or conf.SANDBOX_DEFAULT_QPS_LIMIT, created_at=now,
    )
    amount = conf.SANDBOX_DEMO_BALANCE_USDC * 1_000_000 if opening_balance is None else opening_balance
    Balance.objects.bulk_create([Balance(customer=customer, exchange=ex, available=amount) for ex in EXCHANGES_TRADING])
    if amount:
        Deposit.objects.bulk_create(
            [Deposit(customer=customer, exchange=ex, amount=amount, reason="opening_balance", created_at=now) for ex in EXCHANGES_TRADING]
        )
    return customer


def create_user(*, builder: Builder, external_id, email=None, qps_limit=None, eoa_address=None) -> tuple[Customer, bool]:
    """Idempotent on external_id: returns (customer, created). A repeat call ignores the other fields."""
    if external_id is None:
        raise missing_parameter("external_id is required")
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 200:
        raise bad_request("external_id must be a non-empty string of at most 200 characters")
    if qps_limit is not None:
        integer_or_400(qps_limit, "qps_limit", low=1, high=INT32_MAX)
    if email is not None and not isinstance(email, str):
        raise bad_request("email must be a string")
    if eoa_address is not None and not is_address(eoa_address):
        raise bad_request("eoa_address must be a 0x-prefixed 40-hex-digit address")
    existing = Customer.objects.filter(builder=builder, external_id=external_id, kind=Customer.Kind.END_USER).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic(using=DB):
            customer = open_account(
                builder=builder, kind=Customer.Kind.END_USER, external_id=external_id, api_key=new_api_key(),
                email=email or "", qps_limit=qps_limit, now=clock.now(),
            )
    except IntegrityError:
        return Customer.objects.get(builder=builder, external_id=external_id), False
    return customer, True


def owned_user(*, builder: Builder, customer_id, status: int = 404) -> Customer:
    """An active end-user of this builder, or 404 (path ids) / 403 (body ids)."""
    try:
        customer = Customer.objects.select_related("builder").filter(
            builder=builder, customer_id=str(customer_id), kind=Customer.Kind.END_USER, active=True
        ).first()
    except Exception:  # a malformed UUID
        customer = None
    if customer is None:
        if status == 403:
            raise ParsecAPIError(403, "unauthorized", NOT_OWNED)
        raise ParsecAPIError(404, "not_found", "end-user not found")
    return customer


def update_user(*, customer: Customer, qps_limit) -> Customer:
    if qps_limit is None:
        return customer
    integer_or_400(qps_limit, "qps_limit", low=1, high=INT32_MAX)
    Customer.objects.filter(pk=customer.pk).update(qps_limit=qps_limit)
    customer.qps_limit = qps_limit
    return customer


def deactivate_user(*, customer: Customer) -> None:
    """Irreversible: cancels open orders (releasing their reservations), revokes key, wallets, credentials."""
    now = clock.now()
    Customer.objects.filter(pk=customer.pk).update(active=False, deactivated_at=now)
    engine.cancel_open_orders(customer=customer, now=now)
    with transaction.atomic(using=DB):
        Wallet.objects.filter(customer=customer).update(active=False)
        ExchangeLink.objects.filter(customer=customer).delete()


def linked_exchanges(customer: Customer) -> list[str]:
    return sorted(customer.exchange_links.values_list("exchange", flat=True))


def primary_wallet(customer: Customer) -> Wallet | None:
    return customer.wallets.filter(active=True).order_by("pk").first()


def pool(builder: Builder) -> dict:
    users = Customer.objects.filter(builder=builder, kind=Customer.Kind.END_USER, active=True)
    return {
        "qps_pool": builder.qps_pool,
        "end_user_count": users.count(),
        "total_allocated_qps": users.aggregate(total=Sum("qps_limit"))["total"] or 0,
    }


def escrow_config(builder: Builder) -> dict:
    return {
        "fee_escrow_enabled": builder.fee_escrow_enabled,
        "fee_bps": builder.fee_bps,
        "affiliate_address": builder.affiliate_address,
        "escrow_contract_address": builder.escrow_contract_address,
        "min_fee_usdc": str(builder.min_fee_usdc),
        "min_fee_bps": builder.min_fee_bps,
        "treasury_address": builder.treasury_address,
        "affiliate_fee_bps": builder.affiliate_fee_bps,
    }


# --- Onboarding -------------------------------------------------------------------

def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value.strip() or None


def looks_like_pem(value: str | None) -> bool:
    return bool(value) and "-----BEGIN" in value and "PRIVATE KEY-----" in value


def fingerprint(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def onboard(*, customer: Customer, body: dict) -> dict:
    exchange = _text(body, "exchange")
    mode = _text(body, "mode")
    if exchange is None:
        raise missing_parameter("exchange is required")
    if mode is None:
        raise missing_parameter("mode is required")
    if exchange not in EXCHANGES_TRADING:
        raise bad_request(f"onboarding is available for polymarket and kalshi, not {exchange!r}")
    if mode not in ("managed", "self"):
        raise bad_request("mode must be 'managed' or 'self'")
    now = clock.now()
    link = customer.exchange_links.filter(exchange=exchange).first()
    if mode == "managed":
        if exchange == "kalshi":
            raise bad_request("kalshi supports only mode 'self' (users create their Kalshi account themselves)")
        wallet_type = _text(body, "wallet_type") or "eoa"
        eoa_address = _text(body, "eoa_address")
        chain_id = body.get("chain_id", 137)
        if wallet_type not in ("eoa", "safe"):
            raise bad_request("wallet_type must be 'eoa' or 'safe'")
        integer_or_400(chain_id, "chain_id", low=1, high=INT32_MAX)
        if wallet_type == "safe" and eoa_address is None:
            raise bad_request("eoa_address is required when wallet_type is 'safe'")
        if wallet_type == "eoa" and eoa_address is not None:
            raise bad_request("eoa_address must not be provided when wallet_type is 'eoa'")
        if eoa_address is not None and not is_address(eoa_address):
            raise bad_request("eoa_address must be a 0x-prefixed 40-hex-digit address")
        steps: list[str] = []
        with transaction.atomic(using=DB):
            wallet = customer.wallets.filter(active=True, wallet_type=wallet_type).order_by("pk").first()
            if wallet_type == "eoa" and wallet is None:
                wallet = Wallet.objects.create(
                    customer=customer, wallet_type="eoa", eoa_address=random_address(),
                    privy_wallet_id=f"wallet_{secrets.token_hex(10)}", chain_id=137, created_at=now,
                )
                steps.append("wallet_eoa_created")
            if wallet_type == "safe" and (wallet is None or wallet.eoa_address.lower() != eoa_address.lower()):
                wallet = Wallet.objects.create(
                    customer=customer, wallet_type="safe", eoa_address=eoa_address, safe_address=random_address(),
                    privy_wallet_id="", chain_id=chain_id, created_at=now,
                )
                steps += ["external_eoa_provided", "wallet_safe_created"]
            if link is None or link.mode != "managed" or steps:
                ExchangeLink.objects.update_or_create(
                    customer=customer, exchange=exchange,
                    defaults={"mode": "managed", "has_credentials": True, "can_trade": True, "credentials_fingerprint": "",
                              "created_at": now, "steps_done": ["exchange_linked"]},
                )
                steps.append("exchange_linked")
        eoa, safe = wallet.eoa_address, wallet.safe_address
    else:
        steps, wallet = _onboard_self(customer=customer, exchange=exchange, body=body, link=link, now=now), None
        eoa, safe = None, None
    status = "complete" if steps else conf.SANDBOX_ONBOARD_RERUN_STATUS
    response = {
        "customer_id": str(customer.customer_id),
        "exchange": exchange,
        "mode": mode,
        "status": status,
        "eoa_address": eoa,
        "safe_address": safe,
        "linked_exchanges": linked_exchanges(customer),
        "steps_completed": steps,
        "fee_escrow_enabled": customer.builder.fee_escrow_enabled,
        "fee_bps": customer.builder.fee_bps,
        "affiliate_address": customer.builder.affiliate_address,
    }
    if wallet is not None:
        from sandbox import render

        response["wallet"] = render.wallet(wallet)
    return response


def _onboard_self(*, customer: Customer, exchange: str, body: dict, link: ExchangeLink | None, now: datetime) -> list[str]:
    if exchange == "kalshi":
        api_key_id, private_key = _text(body, "api_key_id"), _text(body, "private_key")
        if api_key_id is None or private_key is None:
            raise bad_request("self onboarding on kalshi needs api_key_id and private_key")
        if not looks_like_pem(private_key):
            raise bad_request("private_key must be an RSA private key in PEM format")
        print_ = fingerprint({"api_key_id": api_key_id, "private_key": private_key})
        steps, can_trade = ["credentials_validated", "credentials_stored"], True
    else:
        trio = {name: _text(body, name) for name in ("clob_api_key", "clob_api_secret", "clob_api_passphrase")}
        missing = [name for name, value in trio.items() if value is None]
        if missing:
            raise bad_request(f"self onboarding on polymarket needs {', '.join(missing)}")
        private_key = _text(body, "private_key")
        if private_key is not None and not re.fullmatch(r"0x[0-9a-fA-F]{64}", private_key):
            raise bad_request("private_key must be a 0x-prefixed 64-hex-digit key")
        print_ = fingerprint({**trio, "private_key": private_key})
        steps, can_trade = ["credentials_stored"], private_key is not None
    if link is not None and link.mode == "self" and link.credentials_fingerprint == print_:
        return []
    ExchangeLink.objects.update_or_create(
        customer=customer, exchange=exchange,
        defaults={"mode": "self", "has_credentials": True, "can_trade": can_trade, "credentials_fingerprint": print_,
                  "created_at": now, "steps_done": steps},
    )
    return steps


# --- Credentials for private endpoints -------------------------------------------

def request_credentials_ok(exchange: str, creds: dict, *, for_orders: bool) -> bool:
    if exchange == "kalshi":
        return bool(creds.get("api_key_id")) and looks_like_pem(creds.get("private_key"))
    trio = all(creds.get(name) for name in ("clob_api_key", "clob_api_secret", "clob_api_passphrase"))
    return (trio or bool(creds.get("private_key"))) and (not for_orders or bool(creds.get("private_key")) or trio)


_LINK = sql.Loader(ExchangeLink, ("has_credentials", "can_trade"))


def check_credentials(*, customer: Customer, exchange: str, header: str | None, body_credentials=None, for_orders: bool = False) -> None:
    """Body ``credentials`` → X-Exchange-Credentials → stored link → 403 credentials_required."""
    if body_credentials is not None:
        if not isinstance(body_credentials, dict):
            raise bad_request("credentials must be an object")
        creds = body_credentials
    elif header:
        try:
            creds = json.loads(base64.b64decode(header, validate=True))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise bad_request("X-Exchange-Credentials must be base64-encoded JSON") from None
        if not isinstance(creds, dict):
            raise bad_request("X-Exchange-Credentials must encode a JSON object")
    else:
        link = _LINK.first("t.customer_id = %s AND t.exchange = %s", [customer.pk, exchange])
        if link is None or not link.has_credentials:
            raise ParsecAPIError(403, "credentials_required", "exchange credentials not configured")
        if for_orders and not link.can_trade:
            raise ParsecAPIError(403, "credentials_required", "stored polymarket credentials have no private_key: orders need one")
        return
    if not request_credentials_ok(exchange, creds, for_orders=for_orders):
        raise ParsecAPIError(403, "authentication_failed", f"exchange authentication failed: {exchange}")
