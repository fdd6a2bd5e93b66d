"""What the API shows of the customers mirror (never an end-user's API key: only its last four)."""

from __future__ import annotations

from rest_framework import serializers

from api.fields import StrictCharField, StrictIntegerField, StrictRegexField
from api.serializers import ClosedSerializer
from customers.enums import Exchange
from customers.models import QPS_LIMIT_MAX, BalanceSnapshot, Customer, ExchangeLink, Wallet


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


# --- End-user writes (customers.services) ----------------------------------------------

ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class CreateEndUserSerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=255, help_text="The builder's own id for the end-user (unique).")
    email = StrictCharField(max_length=254, required=False, allow_blank=True, default="")
    eoa_address = StrictRegexField(ADDRESS, required=False, allow_null=True, default=None,
                                   help_text="The end-user's own wallet, if any (0x + 40 hex).")


class CredentialsSerializer(ClosedSerializer):
    """Self mode only. Passed through to Parsec once; never stored, logged, audited or replayed.
    Polymarket: clob_api_key, clob_api_secret, clob_api_passphrase (+ private_key optionally).
    Kalshi: api_key_id and private_key (PEM)."""

    clob_api_key = StrictCharField(max_length=500, required=False, write_only=True)
    clob_api_secret = StrictCharField(max_length=500, required=False, write_only=True)
    clob_api_passphrase = StrictCharField(max_length=500, required=False, write_only=True)
    api_key_id = StrictCharField(max_length=500, required=False, write_only=True)
    private_key = StrictCharField(max_length=10_000, required=False, write_only=True)

    unknown_fields_message = "Unexpected credential fields: {}."


class OnboardSerializer(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=Exchange.choices, help_text="Polymarket or Kalshi.")
    mode = serializers.ChoiceField(choices=[ExchangeLink.Mode.MANAGED, ExchangeLink.Mode.SELF])
    wallet_type = serializers.ChoiceField(choices=["eoa", "safe"], required=False, allow_null=True, default=None)
    eoa_address = StrictRegexField(ADDRESS, required=False, allow_null=True, default=None)
    credentials = CredentialsSerializer(required=False, allow_null=True, default=None)


class OnboardResultSerializer(serializers.Serializer):
    """Parsec's onboarding answer (never the credentials) and the customer as now mirrored."""

    exchange = serializers.CharField()
    mode = serializers.CharField()
    status = serializers.CharField()
    steps_completed = serializers.ListField(child=serializers.CharField())
    linked_exchanges = serializers.ListField(child=serializers.CharField())
    eoa_address = serializers.CharField(allow_null=True)
    safe_address = serializers.CharField(allow_null=True)
    customer = CustomerSerializer()


class QpsLimitSerializer(serializers.Serializer):
    qps_limit = StrictIntegerField(min_value=1, max_value=QPS_LIMIT_MAX)
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class PoolSerializer(serializers.Serializer):
    qps_pool = serializers.IntegerField()
    end_user_count = serializers.IntegerField()
    total_allocated_qps = serializers.IntegerField()


class QpsChangeSerializer(serializers.Serializer):
    old_limit = serializers.IntegerField(allow_null=True)
    new_limit = serializers.IntegerField()
    pool_before = PoolSerializer(source="before", help_text="The builder's QPS pool before the change.")
    pool_after = PoolSerializer(source="after")
    customer = CustomerSerializer()


class DeactivateSerializer(serializers.Serializer):
    confirm_external_id = StrictCharField(max_length=255, help_text="Type the end-user's external id to confirm.")
    reason = StrictCharField(max_length=2000, help_text="Why (shown to the approver).")


class ApprovalRequestSerializer(serializers.Serializer):
    """The four-eyes request a second Operations user decides in the admin."""

    id = serializers.IntegerField()
    action = serializers.CharField()
    summary = serializers.CharField()
    customer = serializers.IntegerField(source="customer_id", allow_null=True)
    reason = serializers.CharField()
    status = serializers.CharField()
    requested_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
