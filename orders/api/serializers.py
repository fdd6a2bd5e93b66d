"""What the API shows of markets, orders, fills, positions and order intents."""

from __future__ import annotations

from rest_framework import serializers

from orders.models import Fill, Market, Order, OrderIntent, Position


class MarketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = [
            "id", "parsec_id", "exchange", "exchange_market_id", "order_market_id", "question", "outcomes", "market_type",
            "status", "tick_size", "min_order_size", "end_date", "last_price", "last_seen_at",
        ]


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
            "average_price", "current_price", "unrealized_pnl", "is_open", "closed_at", "first_seen_at", "last_seen_at",
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
