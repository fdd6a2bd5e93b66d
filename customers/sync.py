"""Parsec's end-users → the customers mirror: one function maps a payload to a row, set-based
upserts (``core.upsert``) write many and skip unchanged rows. The steps that read Parsec and the
run record live in the ``sync`` app; nothing here calls the network.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction

from core.upsert import UpsertResult, UpsertSpec, upsert
from customers.enums import Exchange
from customers.models import BalanceSnapshot, Customer, ExchangeLink, Wallet, allowance_columns
from parsec.types import Balance, BuilderUser

DEACTIVATED_STATUSES = frozenset({"deactivated", "inactive", "disabled"})
KNOWN_EXCHANGES = frozenset(Exchange.values)


# --- end-users ---------------------------------------------------------------------------

CUSTOMER_SPEC = UpsertSpec(
    model=Customer,
    key=("parsec_customer_id",),
    fields=(
        "external_id", "tier", "qps_limit", "status", "fee_escrow_enabled", "fee_bps", "api_key_last4", "created_at",
        "deactivated_at", "raw",
    ),
    touch=("last_synced_at",),
    create_only=("first_seen_at",),
)

WALLET_SPEC = UpsertSpec(
    model=Wallet,
    key=("customer_id", "wallet_type", "address"),
    fields=("safe_address", "chain_id", "privy_wallet_id", "created_at", "raw"),
    touch=("last_seen_at",),
)

# Parsec reports only which exchanges are linked, so a link never changes once mirrored.
EXCHANGE_LINK_SPEC = UpsertSpec(
    model=ExchangeLink, key=("customer_id", "exchange"), fields=(), touch=("last_seen_at",), create_only=("linked_at", "mode"),
)


def customer_row(user: BuilderUser, *, now: datetime) -> dict[str, Any]:
    deactivated = (user.status or "").lower() in DEACTIVATED_STATUSES
    return {
        "parsec_customer_id": uuid.UUID(str(user.customer_id)),
        "external_id": user.external_id,
        "tier": user.tier or "",
        "qps_limit": user.qps_limit,
        "status": Customer.Status.DEACTIVATED if deactivated else Customer.Status.ACTIVE,
        "fee_escrow_enabled": user.fee_escrow_enabled,
        "fee_bps": user.fee_bps,
        "api_key_last4": user.api_key_last4,
        "created_at": user.created_at,
        "deactivated_at": None,
        "raw": user.raw,  # parsec.types strips api_key from every raw payload
        "last_synced_at": now,
        "first_seen_at": now,
    }


def wallet_row(user: BuilderUser, *, customer_pk: int, now: datetime) -> dict[str, Any] | None:
    wallet = user.wallet
    if wallet is None or not wallet.eoa_address:
        return None
    raw = {k: v for k, v in (user.raw.get("wallet") or {}).items() if k != "balances"}  # balances live in snapshots
    wallet_type = wallet.wallet_type if wallet.wallet_type in Wallet.Type.values else Wallet.Type.EOA
    return {
        "customer_id": customer_pk,
        "wallet_type": wallet_type,
        "address": wallet.eoa_address,
        "safe_address": wallet.safe_address or "",
        "chain_id": wallet.chain_id,
        "privy_wallet_id": wallet.privy_wallet_id or "",
        "created_at": wallet.created_at,
        "raw": raw,
        "last_seen_at": now,
    }


def link_mode(user: BuilderUser, exchange: str) -> str:
    """The link's mode as far as the users list tells it (it names only the linked exchanges):
    Kalshi has no managed mode, so a Kalshi link is self; a Polymarket link beside a wallet Parsec
    made (a Privy EOA or a Safe) is managed. Anything else stays unknown until onboarded here."""
    if exchange == Exchange.KALSHI:
        return ExchangeLink.Mode.SELF
    wallet = user.wallet
    if exchange == Exchange.POLYMARKET and wallet is not None and (wallet.privy_wallet_id or wallet.wallet_type == Wallet.Type.SAFE):
        return ExchangeLink.Mode.MANAGED
    return ExchangeLink.Mode.UNKNOWN


def _learn_link_modes(inferred: dict[tuple[str, str], list[int]]) -> None:
    """Links mirrored before their mode could be inferred take it now (never overriding a known mode)."""
    for (exchange, mode), customer_pks in inferred.items():
        ExchangeLink.objects.filter(exchange=exchange, mode=ExchangeLink.Mode.UNKNOWN, customer_id__in=customer_pks).update(mode=mode)


def upsert_users(users: list[BuilderUser], *, now: datetime) -> UpsertResult:
    """Customers, their wallet and their exchange links for one page of the users list (a user
    whose row the database refused has neither: it is in ``rejected``)."""
    rows = [customer_row(user, now=now) for user in users]
    result = upsert(CUSTOMER_SPEC, rows)
    pks = dict(Customer.objects.filter(parsec_customer_id__in=[r["parsec_customer_id"] for r in rows]).values_list("parsec_customer_id", "pk"))
    wallets, links, inferred = [], [], {}
    for user, row in zip(users, rows, strict=True):
        customer_pk = pks.get(row["parsec_customer_id"])
        if customer_pk is None:
            continue
        wallet = wallet_row(user, customer_pk=customer_pk, now=now)
        if wallet:
            wallets.append(wallet)
        for exchange in user.linked_exchanges:
            if exchange in KNOWN_EXCHANGES:
                mode = link_mode(user, exchange)
                links.append({"customer_id": customer_pk, "exchange": exchange, "linked_at": now, "mode": mode, "last_seen_at": now})
                if mode != ExchangeLink.Mode.UNKNOWN:
                    inferred.setdefault((exchange, mode), []).append(customer_pk)
    result += upsert(WALLET_SPEC, wallets)
    result += upsert(EXCHANGE_LINK_SPEC, links)
    _learn_link_modes(inferred)
    return result


def balance_row(balance: Balance) -> dict[str, Any]:
    inner = balance.raw.get("raw") if isinstance(balance.raw.get("raw"), dict) else {}
    return {"usdc_base_units": balance.usdc_base_units, **allowance_columns(inner.get("allowance")), "raw": balance.raw}


def record_balance(*, customer: Customer, exchange: str, balance: Balance, now: datetime) -> UpsertResult:
    """A new snapshot only when the balance (or allowance) moved since the latest one."""
    result = UpsertResult()
    if balance.usdc_base_units is None:
        raise ValueError(f"Parsec's {exchange} balance has no USDC amount we can read: {balance.raw!r}"[:300])
    row = balance_row(balance)
    compared = ("usdc_base_units", "allowance_base_units", "allowance_unlimited")

    def latest_is_same() -> bool:
        latest = BalanceSnapshot.objects.filter(customer=customer, exchange=exchange).order_by("-taken_at", "-id").values(*compared).first()
        return latest is not None and all(latest[k] == row[k] for k in compared)

    # The common case (nothing moved) needs one read and no transaction; a snapshot is only
    # written under the customer row lock, which makes two workers agree on "the latest".
    if latest_is_same():
        result.unchanged += 1
        return result
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
        if latest_is_same():
            result.unchanged += 1
        else:
            BalanceSnapshot.objects.create(customer=customer, exchange=exchange, taken_at=now, **row)
            result.created += 1
    return result
