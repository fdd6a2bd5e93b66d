"""The gateway's own tables: the outbound-call log and the database rate-limit buckets."""

from __future__ import annotations

from django.db import models


class OutboundCall(models.Model):
    """One HTTP attempt to Parsec. Nothing secret: no headers other than the rate-limit
    ones, no bodies, no credentials, keys or signatures."""

    created_at = models.DateTimeField(db_index=True)
    method = models.CharField(max_length=8)
    path_template = models.CharField(max_length=120, help_text="e.g. /orders/{order_id}")
    path = models.CharField(max_length=500, help_text="Concrete path and query string")
    customer_id = models.CharField(max_length=64, blank=True, default="")
    exchange = models.CharField(max_length=32, blank=True, default="")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_class = models.CharField(max_length=64, blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_after = models.FloatField(null=True, blank=True)
    rate_limit = models.JSONField(default=dict, blank=True, help_text="x-ratelimit-* response headers")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["path_template", "created_at"], name="parsec_call_path_idx"),
            models.Index(fields=["customer_id", "created_at"], name="parsec_call_customer_idx"),
            models.Index(fields=["status_code", "created_at"], name="parsec_call_status_idx"),
            models.Index(fields=["error_code", "created_at"], name="parsec_call_error_idx"),
        ]
        verbose_name = "Parsec call"
        verbose_name_plural = "Parsec call log"

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status_code or self.error_code}"


class RateBucket(models.Model):
    """A token bucket shared by every process through the database (embedded shape).

    ``tokens`` may go negative: a caller reserves its token and sleeps off the debt, so a
    bucket needs one short locked update per call (a GCRA-style reservation).
    """

    key = models.CharField(max_length=100, primary_key=True)
    tokens = models.FloatField(default=0)
    updated_at = models.FloatField(default=0, help_text="Unix seconds of the last refill")
    blocked_until = models.FloatField(default=0, help_text="Unix seconds; set from a 429's Retry-After")

    def __str__(self) -> str:
        return self.key


class EscrowChainCursor(models.Model):
    """How far the escrow's events have been read (parsec.escrow_chain.ChainEscrowReader.follow).

    Everything up to ``final_block`` was read and is final (``ESCROW_CONFIRMATIONS`` deep); the
    blocks after it are read again on every call, and ``unfinal`` holds what that read returned
    last time, so an event a reorg removed is reported once as dropped."""

    name = models.CharField(max_length=40, primary_key=True)
    chain_id = models.PositiveBigIntegerField()
    contract_address = models.CharField(max_length=42)
    final_block = models.BigIntegerField(help_text="Last block read and final")
    final_block_hash = models.CharField(max_length=66, blank=True, default="")
    unfinal = models.JSONField(default=list, blank=True, help_text="Events past final_block seen by the last read")
    head_block = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "escrow chain cursor"

    def __str__(self) -> str:
        return f"{self.name} at block {self.final_block}"
