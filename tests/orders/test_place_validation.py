"""Every rule checked before Parsec is called, each with a message an operator understands."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals import services as approvals
from customers.models import Customer, ExchangeLink
from orders import services
from orders.models import KillSwitch, Market, Order, OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(db) -> Market:
    return f.market("polymarket")


def order(customer, market, **overrides) -> dict:
    return {
        "customer": customer, "exchange": market.exchange, "market": market, "outcome": "Yes", "side": "buy",
        "price": Decimal("0.55"), "size": Decimal("10"), "order_type": "gtc", "expiration": None,
    } | overrides


def refusal(**kwargs) -> dict:
    with pytest.raises(services.OrderValidationError) as caught:
        services.validate_order(request=OrderRequest(**kwargs))
    return caught.value.errors


def test_a_valid_order_passes(trading_customer, market):
    services.validate_order(request=OrderRequest(**order(trading_customer, market)))


def test_a_deactivated_customer_cannot_trade(trading_customer, market):
    Customer.objects.filter(pk=trading_customer.pk).update(status=Customer.Status.DEACTIVATED)
    trading_customer.refresh_from_db()
    errors = refusal(**order(trading_customer, market))
    assert "deactivated" in errors[None][0]


def test_a_customer_not_onboarded_to_the_exchange_is_refused(trading_customer, market):
    ExchangeLink.objects.filter(customer=trading_customer, exchange="polymarket").delete()
    errors = refusal(**order(trading_customer, market))
    assert "not onboarded to Polymarket" in errors["exchange"][0]


def test_a_data_only_exchange_is_refused(trading_customer):
    market = f.market("opinion")
    errors = refusal(**order(trading_customer, market, exchange="opinion"))
    assert "only to Polymarket and Kalshi" in errors["exchange"][0]


@pytest.mark.parametrize(("exchange", "order_type"), [("kalshi", "fok"), ("kalshi", "gtd")])
def test_the_order_type_matrix_is_enforced_before_parsec(trading_customer, exchange, order_type):
    market = f.market(exchange)
    expiration = timezone.now() + timedelta(minutes=10) if order_type == "gtd" else None
    errors = refusal(**order(trading_customer, market, exchange=exchange, order_type=order_type, expiration=expiration))
    assert "Polymarket only, not on Kalshi" in errors["order_type"][0]


@pytest.mark.parametrize("order_type", ["gtc", "ioc", "fok"])
def test_polymarket_takes_gtc_ioc_fok(trading_customer, market, order_type):
    services.validate_order(request=OrderRequest(**order(trading_customer, market, order_type=order_type)))


def test_kalshi_takes_ioc(trading_customer):
    market = f.market("kalshi", min_order_size=Decimal("1"))
    services.validate_order(request=OrderRequest(**order(trading_customer, market, exchange="kalshi", order_type="ioc")))


def test_gtd_needs_an_expiry_at_least_a_minute_ahead(trading_customer, market):
    assert "needs an expiry" in refusal(**order(trading_customer, market, order_type="gtd"))["expiration"][0]
    soon = timezone.now() + timedelta(seconds=30)
    assert "at least 60 seconds" in refusal(**order(trading_customer, market, order_type="gtd", expiration=soon))["expiration"][0]
    services.validate_order(request=OrderRequest(**order(trading_customer, market, order_type="gtd", expiration=timezone.now() + timedelta(minutes=5))))


def test_only_gtd_takes_an_expiry(trading_customer, market):
    errors = refusal(**order(trading_customer, market, expiration=timezone.now() + timedelta(minutes=5)))
    assert "Only good-till-date" in errors["expiration"][0]


@pytest.mark.parametrize("price", ["0", "0.009", "0.995", "1", "1.5", "-0.2"])
def test_price_must_be_within_the_band(trading_customer, market, price):
    assert "between 0.01 and 0.99" in refusal(**order(trading_customer, market, price=Decimal(price)))["price"][0]


def test_price_must_sit_on_the_tick(trading_customer, market):
    assert "tick size (0.01)" in refusal(**order(trading_customer, market, price=Decimal("0.555")))["price"][0]
    fine = f.market("polymarket", tick_size=Decimal("0.001"))
    services.validate_order(request=OrderRequest(**order(trading_customer, fine, price=Decimal("0.555"))))


def test_size_must_reach_the_market_minimum(trading_customer, market):
    assert "minimum order size is 5" in refusal(**order(trading_customer, market, size=Decimal("4")))["size"][0]
    assert "positive number" in refusal(**order(trading_customer, market, size=Decimal("0")))["size"][0]


def test_refusals_read_in_plain_numbers(trading_customer):
    """A minimum of 10 read "1E+1 contracts" (Decimal.normalize) and a holding of 100 "1E+2"."""
    market = f.market("polymarket", min_order_size=Decimal("10.00000000"))
    assert "minimum order size is 10 contracts" in refusal(**order(trading_customer, market, size=Decimal("4")))["size"][0]
    f.position(trading_customer, market, "Yes", "100")
    sell = refusal(**order(trading_customer, market, side="sell", size=Decimal("2500")))["size"][0]
    assert "holds 100 “Yes”" in sell and "E+" not in sell
    f.balance(trading_customer, "polymarket", "1200")
    buy = refusal(**order(trading_customer, market, size=Decimal("2500"), price=Decimal("0.55")))["size"][0]
    assert "needs 1,375.00 USDC and 1,200.00 USDC is available (balance 1,200.00 USDC" in buy


def test_an_unknown_outcome_is_refused(trading_customer, market):
    assert "not an outcome" in refusal(**order(trading_customer, market, outcome="Maybe"))["outcome"][0]


def test_a_closed_market_is_refused(trading_customer):
    market = f.market("polymarket", status=Market.Status.RESOLVED)
    assert "resolved" in refusal(**order(trading_customer, market))["market"][0]


def test_a_buy_needs_balance_minus_open_buys(trading_customer, market):
    # 1,000 USDC, of which 900 is held by a resting buy (1,000 @ 0.90 with 0 filled)
    Order.objects.create(
        parsec_order_id="order_resting", exchange="polymarket", customer=trading_customer, market=market,
        market_native_id=market.order_market_id, outcome="Yes", side="buy", price=Decimal("0.90"), size=Decimal("1000"),
        status=Order.Status.OPEN, created_at=timezone.now(),
    )
    errors = refusal(**order(trading_customer, market, size=Decimal("200"), price=Decimal("0.55")))
    assert "needs 110.00 USDC and 100.00 USDC is available" in errors["size"][0]
    services.validate_order(request=OrderRequest(**order(trading_customer, market, size=Decimal("100"), price=Decimal("0.55"))))


def test_a_buy_without_a_known_balance_asks_for_a_sync(market):
    customer = f.customer()
    ExchangeLink.objects.create(customer=customer, exchange="polymarket")
    assert "sync the customer first" in refusal(**order(customer, market))[None][0]


def test_the_latest_balance_snapshot_counts(trading_customer, market):
    f.balance(trading_customer, "polymarket", "3")
    assert "is available" in refusal(**order(trading_customer, market))["size"][0]


def test_a_sell_needs_the_position(trading_customer, market):
    errors = refusal(**order(trading_customer, market, side="sell"))
    assert "Not enough position to sell" in errors["size"][0]
    f.position(trading_customer, market, "Yes", "10")
    services.validate_order(request=OrderRequest(**order(trading_customer, market, side="sell")))
    assert "Not enough position" in refusal(**order(trading_customer, market, side="sell", size=Decimal("11")))["size"][0]


@pytest.mark.parametrize("scope", ["builder", "customer", "market"])
def test_an_engaged_kill_switch_refuses_the_order(trading_customer, market, operator, scope):
    KillSwitch.objects.create(
        scope=scope, reason="incident 42", engaged_by=operator,
        customer=trading_customer if scope == "customer" else None,
        exchange=market.exchange if scope == "market" else "",
        market_native_id=market.order_market_id if scope == "market" else "",
    )
    assert "kill switch" in refusal(**order(trading_customer, market))[None][0]


def test_a_released_kill_switch_no_longer_refuses(trading_customer, market, operator):
    KillSwitch.objects.create(scope="builder", reason="drill", engaged_by=operator, released_at=timezone.now(),
                              released_by=operator)
    services.validate_order(request=OrderRequest(**order(trading_customer, market)))


def test_create_intent_writes_nothing_when_invalid(trading_customer, market, operator):
    with pytest.raises(services.OrderValidationError):
        services.create_intent(actor=operator, request=OrderRequest(**order(trading_customer, market, price=Decimal("2"))))
    assert not OrderIntent.objects.exists()


def test_create_intent_is_idempotent_on_its_key(trading_customer, market, operator):
    first = services.create_intent(actor=operator, key="0b6f3c52-7a51-4a8f-9d6b-2d7f1c0e9a11", request=OrderRequest(**order(trading_customer, market)))
    again = services.create_intent(actor=operator, key="0b6f3c52-7a51-4a8f-9d6b-2d7f1c0e9a11", request=OrderRequest(**order(trading_customer, market)))
    assert first.pk == again.pk and OrderIntent.objects.count() == 1
    assert first.status == OrderIntent.Status.NEW and first.market_native_id == market.order_market_id


def test_an_identical_intent_is_refused_while_one_is_unknown(trading_customer, market, operator):
    first = services.create_intent(actor=operator, request=OrderRequest(**order(trading_customer, market)))
    OrderIntent.objects.filter(pk=first.pk).update(status=OrderIntent.Status.UNKNOWN)
    with pytest.raises(services.TradingError) as caught:
        services.create_intent(actor=operator, request=OrderRequest(**order(trading_customer, market)))
    assert caught.value.code == "duplicate_unresolved_intent"
    assert "still being reconciled" in caught.value.message
    # a different order is fine
    services.create_intent(actor=operator, request=OrderRequest(**order(trading_customer, market, size=Decimal("11"))))


@pytest.mark.django_db(transaction=True)
def test_a_large_order_waits_for_four_eyes(trading_customer, market, operator, settings):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("5")
    intent = services.create_intent(actor=operator, request=OrderRequest(**order(trading_customer, market)))
    assert intent.status == OrderIntent.Status.AWAITING_APPROVAL
    # The one entry asks a second operator and sends nothing; sending again before a decision is refused.
    result = services.submit_intent(intent=intent, actor=operator)
    assert not result.sent and result.intent.status == OrderIntent.Status.AWAITING_APPROVAL and result.intent.approval_id
    with pytest.raises(approvals.ApprovalError) as refused:
        services.submit_intent(intent=intent, actor=operator)
    assert refused.value.code == "approval_required"
