"""The mirror of the builder's end-users at Parsec, their wallets, exchange links and balances.

A mirrored row is the Parsec id (unique) + typed columns + the raw payload + when it was last
seen. Rows are written by ``customers.sync`` only; nothing here calls the network.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core import formatting
from core.money import usdc_from_base_units
from customers.enums import Exchange

# Keys Parsec puts in a user read that must never reach our database or logs.
SECRET_USER_KEYS = frozenset({"api_key"})
# Anything at or above this is an "unlimited" ERC-20 approval (2**256 - 1 in practice).
UNLIMITED_ALLOWANCE = 2**63 - 1


def scrub_user_payload(payload: dict) -> tuple[dict, str]:
    """Return ``(payload without secrets, last four characters of the api_key)``.

    Parsec returns the end-user's own API key with every user read; we keep only enough of it
    to tell two keys apart.
    """
    api_key = payload.get("api_key") or ""
    clean = {key: value for key, value in payload.items() if key not in SECRET_USER_KEYS}
    return clean, api_key[-4:]


def allowance_columns(raw_allowance) -> dict:
    """Map a Polymarket allowance (base units, may be 2**256-1) to BalanceSnapshot columns."""
    if raw_allowance in (None, ""):
        return {"allowance_base_units": None, "allowance_unlimited": False}
    value = int(raw_allowance)
    if value >= UNLIMITED_ALLOWANCE:
        return {"allowance_base_units": None, "allowance_unlimited": True}
    return {"allowance_base_units": value, "allowance_unlimited": False}


# The highest qps_limit any face (admin, API, service) accepts for one end-user.
QPS_LIMIT_MAX = 1_000_000

class Customer(models.Model):
    """An end-user the builder created at Parsec (``BuilderUserResponse``)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DEACTIVATED = "deactivated", "Deactivated"

    parsec_customer_id = models.UUIDField("Parsec customer id", unique=True)
    external_id = models.CharField(max_length=255, unique=True)
    email = models.EmailField(blank=True)
    tier = models.CharField(max_length=32, blank=True)
    qps_limit = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    fee_escrow_enabled = models.BooleanField(default=False)
    fee_bps = models.PositiveIntegerField(null=True, blank=True)
    api_key_last4 = models.CharField(
        "API key (last 4)", max_length=4, blank=True,
        help_text="Only the last four characters; the key itself is never stored.",
    )
    created_at = models.DateTimeField("created at Parsec", null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_synced_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Scheduler bookkeeping: customers with recent activity are refreshed more often.
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("sync_customer", "Can trigger a sync"), ("manage_enduser", "Can create, onboard, limit and deactivate end-users")]
        indexes = [
            models.Index(fields=["status", "last_full_sync_at"], name="customer_sync_due_idx"),
            models.Index(fields=["-created_at"], name="customer_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(raw__has_key="api_key"), name="customer_raw_has_no_api_key"),
            models.CheckConstraint(condition=Q(qps_limit__isnull=True) | Q(qps_limit__gte=1), name="customer_qps_limit_positive"),
        ]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args, **kwargs) -> None:
        if isinstance(self.raw, dict) and SECRET_USER_KEYS & self.raw.keys():
            raise ValueError("refusing to store an end-user API key in Customer.raw; use scrub_user_payload()")
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if isinstance(self.raw, dict) and SECRET_USER_KEYS & self.raw.keys():
            raise ValidationError({"raw": "The raw payload must not contain the end-user's API key."})

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Wallet(models.Model):
    """A wallet Parsec holds for an end-user (``WalletInfo``): a Privy EOA or a Safe."""

    class Type(models.TextChoices):
        EOA = "eoa", "EOA"
        SAFE = "safe", "Safe"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="wallets")
    address = models.CharField("EOA address", max_length=42)
    wallet_type = models.CharField(max_length=8, choices=Type.choices, default=Type.EOA)
    safe_address = models.CharField(max_length=42, blank=True)
    chain_id = models.PositiveIntegerField(null=True, blank=True)
    privy_wallet_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["customer_id", "wallet_type"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "wallet_type", "address"], name="wallet_unique_per_customer"),
        ]
        indexes = [models.Index(fields=["address"], name="wallet_address_idx")]

    def __str__(self) -> str:
        return self.safe_address or self.address


class ExchangeLink(models.Model):
    """An exchange an end-user is onboarded to (``linked_exchanges``) and how."""

    class Mode(models.TextChoices):
        MANAGED = "managed", "Managed"
        SELF = "self", "Self-custody"
        UNKNOWN = "unknown", "Unknown"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="exchange_links")
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.UNKNOWN)
    linked_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # {"fills": {"digest": sha256, "at": unix time}, "positions": {...}}: the last read of each
    # list that the mirror holds in full (every row stored and linked to its order and market).
    # The next sync skips the row-by-row comparison when Parsec answers the same
    # (sync.report.ReadDigests; at most SYNC_DIGEST_MAX_AGE_SECONDS).
    sync_digests = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["customer_id", "exchange"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "exchange"], name="exchangelink_unique_per_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} on {self.get_exchange_display()}"


class BalanceSnapshot(models.Model):
    """One balance read (USDC base units) per sync: the rows form the balance history."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="balance_snapshots")
    exchange = models.CharField(max_length=16, choices=Exchange.choices)
    usdc_base_units = models.BigIntegerField()
    allowance_base_units = models.BigIntegerField(null=True, blank=True)
    allowance_unlimited = models.BooleanField(default=False)
    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        get_latest_by = "taken_at"
        indexes = [
            models.Index(fields=["customer", "exchange", "-taken_at"], name="balance_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.exchange} {formatting.usdc(self.usdc)} USDC"

    @property
    def usdc(self) -> Decimal:
        return usdc_from_base_units(self.usdc_base_units)
