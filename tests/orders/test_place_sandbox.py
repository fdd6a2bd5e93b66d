"""Placing orders against the running sandbox: sent once, recorded, Parsec's refusals explained."""

from __future__ import annotations

from decimal import Decimal

import pytest

from customers.models import ExchangeLink
from orders import services
from orders.models import Market, Order, OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def polymarket_market() -> Market:
    return Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()


def resting_buy(customer, operator, market=None, key=None, **overrides) -> OrderIntent:
    """A buy far below the market, so it rests on the book."""
    market = market or polymarket_market()
    size = max(market.min_order_size or Decimal(1), Decimal(10))
    fields = {"customer": customer, "exchange": market.exchange, "market": market, "outcome": "Yes", "side": "buy",
              "price": Decimal("0.05"), "size": size, "reason": "test placement"} | overrides
    return services.create_intent(actor=operator, key=key, request=OrderRequest(**fields))


def orders_at_sandbox(sandbox, customer, exchange="polymarket") -> list:
    return list(sandbox.sdk().orders.list(
        exchange=exchange, status="all", extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)},
    ))


def test_an_order_is_placed_once_and_recorded(sandbox, sandbox_customer, operator, capture_enqueues):
    intent = resting_buy(sandbox_customer, operator)
    result = services.submit_intent(intent=intent, actor=operator)
    assert result.sent and result.status == OrderIntent.Status.PLACED, result.message
    at_parsec = orders_at_sandbox(sandbox, sandbox_customer)
    assert [o.id for o in at_parsec] == [result.intent.parsec_order_id]
    assert Decimal(str(at_parsec[0].price)) == intent.price and Decimal(str(at_parsec[0].size)) == intent.size
    mirrored = Order.objects.get(parsec_order_id=result.intent.parsec_order_id)
    assert mirrored.placed_by == Order.PlacedBy.OPERATOR and mirrored.placed_by_user == operator
    assert result.intent.order_id == mirrored.pk
    assert not capture_enqueues


def test_second_click_does_not_place_twice(sandbox, sandbox_customer, operator, capture_enqueues):
    intent = resting_buy(sandbox_customer, operator)
    first = services.submit_intent(intent=intent, actor=operator)
    second = services.submit_intent(intent=intent, actor=operator)
    assert first.sent and not second.sent
    assert "already submitted" in second.message
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1


def test_a_resubmitted_form_names_the_same_intent(sandbox, sandbox_customer, operator, capture_enqueues):
    key = "6d4b3f1e-2a90-4c55-8e11-0f3b9a7c2d41"
    intent = resting_buy(sandbox_customer, operator, key=key)
    services.submit_intent(intent=intent, actor=operator)
    again = resting_buy(sandbox_customer, operator, key=key)  # the back button, then submit again
    assert again.pk == intent.pk
    assert not services.submit_intent(intent=again, actor=operator).sent
    assert len(orders_at_sandbox(sandbox, sandbox_customer)) == 1


def rejected(intent, operator) -> OrderIntent:
    result = services.submit_intent(intent=intent, actor=operator)
    assert result.sent
    return result.intent


def test_parsec_402_is_a_rejection_with_a_clear_message(sandbox, sandbox_customer, operator, capture_enqueues, settings):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = Decimal("10000000")
    # the mirror believes in more money than Parsec holds (a stale balance)
    f.balance(sandbox_customer, "polymarket", "1000000")
    market = polymarket_market()
    intent = resting_buy(sandbox_customer, operator, market=market, price=Decimal("0.50"), size=Decimal("100000"))
    intent = rejected(intent, operator)
    assert intent.status == OrderIntent.Status.REJECTED and intent.error_code == "insufficient_funds"
    assert "balance does not cover it" in intent.error_message
    assert orders_at_sandbox(sandbox, sandbox_customer) == [] and not capture_enqueues


def test_parsec_403_credentials_required_says_to_onboard(sandbox, sandbox_customer, operator, capture_enqueues):
    # the mirror says Kalshi is linked, Parsec has no credentials for it
    ExchangeLink.objects.create(customer=sandbox_customer, exchange="kalshi", mode="self")
    f.balance(sandbox_customer, "kalshi", "1000")
    market = Market.objects.filter(exchange="kalshi", market_type="binary", status="active").order_by("pk").first()
    intent = rejected(resting_buy(sandbox_customer, operator, market=market), operator)
    assert intent.status == OrderIntent.Status.REJECTED and intent.error_code == "credentials_required"
    assert "onboard the customer" in intent.error_message


def test_parsec_404_for_a_market_it_does_not_know(sandbox, sandbox_customer, operator, capture_enqueues):
    ghost = f.market("polymarket", order_market_id="0x" + "ab" * 32, exchange_market_id="999999")
    intent = rejected(resting_buy(sandbox_customer, operator, market=ghost), operator)
    assert intent.status == OrderIntent.Status.REJECTED and intent.error_code == "not_found"
    assert "does not know this market" in intent.error_message


def test_parsec_501_for_an_unsupported_order_type(sandbox, sandbox_customer, operator, capture_enqueues):
    # Our own check refuses fok on Kalshi first; an intent written before a rule change still
    # meets Parsec's 501, which must read as clearly.
    onboard_kalshi(sandbox_customer)
    market = Market.objects.filter(exchange="kalshi", market_type="binary", status="active").order_by("pk").first()
    intent = OrderIntent.objects.create(
        customer=sandbox_customer, exchange="kalshi", market=market, market_native_id=market.order_market_id,
        outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("5"), order_type="fok", created_by=operator,
    )
    intent = rejected(intent, operator)
    assert intent.status == OrderIntent.Status.REJECTED and intent.error_code == "not_supported"
    assert "does not support this operation or order type" in intent.error_message


def onboard_kalshi(customer) -> None:
    from parsec.client import get_client

    get_client().onboard(
        customer_id=str(customer.parsec_customer_id), exchange="kalshi", mode="self",
        credentials={"api_key_id": "kalshi-key-id", "private_key": "-----BEGIN RSA PRIVATE KEY-----\n"
                     "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n"},
    )
    ExchangeLink.objects.get_or_create(customer=customer, exchange="kalshi", defaults={"mode": "self"})
    f.balance(customer, "kalshi", "1000")


def test_every_refusal_class_has_an_operator_message():
    from parsec import errors

    for cls in (errors.InsufficientFunds, errors.CredentialsRequired, errors.NotFound, errors.NotSupported,
                errors.ParsecUnavailable, errors.RateLimited, errors.ParsecTimeout, errors.PermissionDenied):
        explained = errors.explain(cls("upstream said no", status=400))
        code, text = explained.code, explained.message
        assert code and "Traceback" not in text and "upstream said no" in text
