"""What the API shows of markets, orders, fills, positions and order intents."""

from __future__ import annotations

from rest_framework import serializers

from api.fields import DecimalStringField, StrictCharField, StrictIntegerField, StrictRegexField
from api.schema import ErrorDetailSerializer
from customers.enums import Exchange
from orders.models import (
    FeeEscrowEvent,
    FeeEscrowRecord,
    Fill,
    Market,
    Order,
    OrderIntent,
    OrderType,
    Position,
    Settlement,
    Side,
)


class MarketSerializer(serializers.ModelSerializer):
    past_end_date = serializers.BooleanField(read_only=True, help_text="Still listed active although its end date has passed.")
    lifecycle = serializers.CharField(source="lifecycle_label", read_only=True)

    class Meta:
        model = Market
        fields = [
            "id", "parsec_id", "exchange", "exchange_market_id", "order_market_id", "question", "outcomes", "market_type",
            "status", "lifecycle", "winning_outcome", "past_end_date", "tick_size", "min_order_size", "end_date", "closed_at",
            "resolved_at", "last_price", "event_id", "last_seen_at",
        ]


class MarketDetailSerializer(MarketSerializer):
    description = serializers.CharField(read_only=True)
    rules = serializers.CharField(read_only=True)
    canonical_event_id = serializers.CharField(read_only=True)

    class Meta(MarketSerializer.Meta):
        fields = [*MarketSerializer.Meta.fields, "description", "rules", "canonical_event_id", "group_title"]


class SettlementSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    market_title = serializers.CharField(source="market.question", read_only=True)

    class Meta:
        model = Settlement
        fields = [
            "id", "customer", "customer_external_id", "exchange", "market", "market_native_id", "market_title", "outcome",
            "position", "kind", "result", "void_rule", "size", "average_price", "payout_per_share", "amount_base_units",
            "basis", "evidence", "settled_at", "inferred_at",
        ]


class HolderSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    external_id = serializers.CharField()
    outcome = serializers.CharField()
    size = serializers.DecimalField(max_digits=24, decimal_places=8)
    cost = serializers.DecimalField(max_digits=32, decimal_places=8, help_text="USDC paid for the holding (average cost).")
    value = serializers.DecimalField(max_digits=32, decimal_places=8, help_text="USDC at the current price.")


class ExposureSerializer(serializers.Serializer):
    customers = serializers.IntegerField(help_text="Customers holding the market.")
    held_cost = serializers.DecimalField(max_digits=32, decimal_places=8)
    held_value = serializers.DecimalField(max_digits=32, decimal_places=8)
    open_order_count = serializers.IntegerField()
    open_order_notional = serializers.DecimalField(max_digits=32, decimal_places=8)
    total = serializers.DecimalField(max_digits=32, decimal_places=8, help_text="held_cost + open_order_notional")
    traded_notional = serializers.DecimalField(max_digits=32, decimal_places=8)
    fees = serializers.DecimalField(max_digits=32, decimal_places=8, help_text="Exchange fees on our customers' fills.")
    fills = serializers.IntegerField()
    holders = HolderSerializer(many=True)
    open_orders = serializers.SerializerMethodField()
    settlements = SettlementSerializer(many=True)

    def get_open_orders(self, exposure) -> list[dict]:
        return OrderSerializer(exposure.open_orders, many=True).data


class ResolvingSoonSerializer(MarketSerializer):
    exposure = serializers.DecimalField(max_digits=32, decimal_places=8, read_only=True)
    exposure_cost = serializers.DecimalField(max_digits=32, decimal_places=8, read_only=True)
    exposure_orders = serializers.DecimalField(max_digits=32, decimal_places=8, read_only=True)
    holders = serializers.IntegerField(read_only=True)

    class Meta(MarketSerializer.Meta):
        fields = [*MarketSerializer.Meta.fields, "exposure", "exposure_cost", "exposure_orders", "holders"]


class TradeSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=8)
    size = serializers.DecimalField(max_digits=24, decimal_places=8)
    side = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField(allow_null=True)


class CandleSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField(allow_null=True)
    open = serializers.DecimalField(max_digits=12, decimal_places=8)
    high = serializers.DecimalField(max_digits=12, decimal_places=8)
    low = serializers.DecimalField(max_digits=12, decimal_places=8)
    close = serializers.DecimalField(max_digits=12, decimal_places=8)
    volume = serializers.DecimalField(max_digits=24, decimal_places=8)


class PnlLineSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    market_native_id = serializers.CharField()
    market_title = serializers.CharField()
    outcome = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    average_cost = serializers.DecimalField(max_digits=12, decimal_places=8)
    realised_base_units = serializers.IntegerField(source="realised_units")
    fees_base_units = serializers.IntegerField(source="fees_units")
    payout_base_units = serializers.IntegerField(source="payout_units")
    settled = serializers.BooleanField(source="is_settled")
    incomplete = serializers.BooleanField()


class OrderSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    market_title = serializers.CharField(read_only=True)
    remaining = serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id", "parsec_order_id", "exchange", "customer", "customer_external_id", "market", "market_native_id",
            "market_title", "outcome", "side", "price", "size", "filled", "remaining", "status", "parsec_status",
            "order_type", "expiration", "placed_by", "fee_auth_order_id", "created_at", "updated_at", "last_seen_at",
        ]


class FillSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    market_title = serializers.SerializerMethodField()

    class Meta:
        model = Fill
        fields = [
            "id", "fill_id", "order", "parsec_order_id", "customer", "customer_external_id", "exchange", "market",
            "market_native_id", "market_title", "outcome", "side", "price", "size", "is_taker", "fee", "created_at",
        ]

    def get_market_title(self, fill) -> str:
        return fill.market.question if fill.market_id else fill.market_native_id


class PositionSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    unrealized_pnl = serializers.DecimalField(max_digits=24, decimal_places=8, read_only=True, allow_null=True)

    class Meta:
        model = Position
        fields = [
            "id", "customer", "customer_external_id", "exchange", "market", "market_native_id", "outcome", "size",
            "average_price", "current_price", "unrealized_pnl", "is_open", "closed_at", "closed_reason", "first_seen_at", "last_seen_at",
        ]


class OrderIntentSerializer(serializers.ModelSerializer):
    message = serializers.SerializerMethodField(help_text="Where the intent stands, in the admin's words.")

    class Meta:
        model = OrderIntent
        fields = [
            "id", "key", "customer", "exchange", "market", "market_native_id", "outcome", "side", "price", "size",
            "order_type", "expiration", "fee_base_units", "fee_auth_order_id", "reason", "source", "status", "message",
            "parsec_order_id", "order", "error_code", "error_message", "reconcile_attempts", "reconcile_note",
            "created_at", "sent_at", "resolved_at",
        ]

    def get_message(self, intent) -> str:
        from orders.messages import intent_status_message

        return intent_status_message(intent)


class FeeEscrowEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeeEscrowEvent
        fields = ["kind", "amount", "affiliate_amount", "treasury_amount", "reason", "block_number", "block_hash",
                  "tx_hash", "log_index", "final", "seen_at", "dropped_at"]


class FeeEscrowRecordSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    intent_key = serializers.UUIDField(source="intent.key", read_only=True, allow_null=True, default=None)
    flagged = serializers.SerializerMethodField(help_text="Our derivation differs from the escrow's record.")
    chain_events = FeeEscrowEventSerializer(many=True, read_only=True, help_text=(
        "The escrow contract's events for this record, oldest first, with their block and transaction; "
        "dropped_at is set on an event a reorg removed."))

    class Meta:
        model = FeeEscrowRecord
        fields = [
            "id", "fee_order_id", "customer", "customer_external_id", "intent", "intent_key", "order", "payer",
            "fee_base_units", "deadline", "affiliate_fee_bps", "has_affiliate", "state", "affiliate_base_units",
            "treasury_base_units", "refund_base_units", "refund_reason", "created_at", "pulled_at", "settled_at",
            "chain_state", "checked_at", "flagged", "discrepancy", "reconciliation", "chain_block", "chain_read_at",
            "chain_error", "chain_events",
        ]

    def get_flagged(self, record) -> bool:
        return bool(record.discrepancy)


class EscrowConfigSerializer(serializers.Serializer):
    fee_escrow_enabled = serializers.BooleanField()
    fee_bps = serializers.IntegerField(allow_null=True)
    affiliate_address = serializers.CharField(allow_null=True)
    escrow_contract_address = serializers.CharField()
    min_fee_usdc = serializers.IntegerField(help_text="USDC base units.")
    min_fee_bps = serializers.IntegerField()
    treasury_address = serializers.CharField()
    affiliate_fee_bps = serializers.IntegerField()


# --- Writes -----------------------------------------------------------------------------------

HEX32 = r"^0x[0-9a-fA-F]{64}$"
ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class FeeAuthSerializer(serializers.Serializer):
    """The EIP-712 ``PullFee`` authorisation signed in the builder's app (passed through to Parsec)."""

    order_id = StrictRegexField(HEX32, help_text="The builder's bytes32 fee order id (0x + 64 hex).")
    payer = StrictRegexField(ADDRESS)
    fee_amount = StrictIntegerField(min_value=0, max_value=2**63 - 1, help_text="USDC base units.")
    deadline = StrictIntegerField(min_value=0, max_value=2**63 - 1, help_text="Unix seconds.")
    signature = StrictRegexField(r"^0x[0-9a-fA-F]{130}$", write_only=True)


class PlaceOrderSerializer(serializers.Serializer):
    customer = StrictCharField(max_length=255, help_text="Our id, the Parsec customer id or the external id.")
    market = StrictCharField(max_length=255, help_text="Our id, the market's parsec_id or its native id.")
    outcome = StrictCharField(max_length=255)
    side = serializers.ChoiceField(choices=Side.choices)
    price = DecimalStringField(max_digits=12, decimal_places=8, help_text="0.01–0.99, on the market's tick.")
    size = DecimalStringField(max_digits=20, decimal_places=8, help_text="At least the market's minimum order size.")
    order_type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.GTC)
    expiration = serializers.DateTimeField(required=False, allow_null=True, help_text="gtd only; ≥ 60 s ahead.")
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    fee_auth = FeeAuthSerializer(required=False, allow_null=True)


class PlacementRefusalSerializer(serializers.Serializer):
    """A placement Parsec (or a last-minute local rule) refused: the error, and the intent it closed."""

    error = ErrorDetailSerializer()
    intent = OrderIntentSerializer(required=False, help_text="Absent when the request itself was refused (e.g. the key was reused).")


class ReasonSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class CancelAllSerializer(ReasonSerializer):
    customer = StrictCharField(max_length=255, help_text="Our id, the Parsec customer id or the external id.")
    exchange = serializers.ChoiceField(choices=Exchange.choices, required=False)
    market = StrictCharField(max_length=255, required=False, help_text="Only this market's orders (native id).")



class CancelResultSerializer(serializers.Serializer):
    order = serializers.IntegerField(source="order.pk")
    parsec_order_id = serializers.CharField(source="order.parsec_order_id")
    result = serializers.ChoiceField(choices=["cancelled", "already_filled", "already_closed", "failed"])
    message = serializers.CharField()
    filled = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)
    escrow_status = serializers.CharField(allow_null=True)


class CancelResponseSerializer(serializers.Serializer):
    results = CancelResultSerializer(many=True)


class PnlSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    realised_base_units = serializers.IntegerField(help_text="Σ realised by average cost (fills and settlements), before fees.")
    fees_base_units = serializers.IntegerField()
    payout_base_units = serializers.IntegerField(help_text="Σ settlement payouts.")
    net_base_units = serializers.IntegerField(help_text="realised - fees: what the balance gained on closed holdings.")
    lines = PnlLineSerializer(many=True)
