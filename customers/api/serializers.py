"""What the API shows of the customers mirror (never an end-user's API key: only its last four)."""

from __future__ import annotations

from rest_framework import serializers

from customers.enums import Exchange
from customers.models import BalanceSnapshot, Customer, ExchangeLink, SyncRun, Wallet


class WalletSerializer(serializers.ModelSerializer):
    class Meta:
        model = Wallet
        fields = ["address", "wallet_type", "safe_address", "chain_id", "created_at"]


class ExchangeLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExchangeLink
        fields = ["exchange", "mode", "linked_at"]


class BalanceSnapshotSerializer(serializers.ModelSerializer):
    usdc = serializers.DecimalField(max_digits=24, decimal_places=6, read_only=True, help_text="usdc_base_units / 10^6")

    class Meta:
        model = BalanceSnapshot
        fields = ["id", "customer", "exchange", "usdc_base_units", "usdc", "allowance_base_units", "allowance_unlimited", "taken_at"]


class LatestBalanceSerializer(BalanceSnapshotSerializer):
    class Meta(BalanceSnapshotSerializer.Meta):
        fields = ["exchange", "usdc_base_units", "usdc", "allowance_base_units", "allowance_unlimited", "taken_at"]


class CustomerSerializer(serializers.ModelSerializer):
    wallets = WalletSerializer(many=True, read_only=True)
    exchange_links = ExchangeLinkSerializer(many=True, read_only=True)
    latest_balances = LatestBalanceSerializer(many=True, read_only=True, help_text="The newest balance per exchange.")

    class Meta:
        model = Customer
        fields = [
            "id", "parsec_customer_id", "external_id", "email", "tier", "qps_limit", "status", "fee_escrow_enabled",
            "fee_bps", "api_key_last4", "created_at", "deactivated_at", "last_synced_at", "last_activity_at",
            "wallets", "exchange_links", "latest_balances",
        ]


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id", "kind", "customer", "exchange", "trigger", "status", "started_at", "finished_at", "calls_made",
            "rows_created", "rows_updated", "rows_unchanged", "errors", "progress_done", "progress_total",
        ]


class SyncRequestSerializer(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=Exchange.choices, required=False, help_text="Only this exchange.")
