"""The kill switch: a local, reversible freeze that every placement path checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from orders import services
from orders.models import KillSwitch, OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def intent_for(customer, market, operator, **overrides):
    fields = {"customer": customer, "exchange": market.exchange, "market": market, "outcome": "Yes", "side": "buy",
              "price": Decimal("0.50"), "size": Decimal("10"), "reason": "test"} | overrides
    return services.create_intent(actor=operator, request=OrderRequest(**fields))


def test_engaging_freezes_new_orders_and_releasing_allows_them_again(trading_customer, operator):
    market = f.market("polymarket")
    switch, results = services.engage_kill_switch(scope="customer", customer=trading_customer, actor=operator, reason="fraud check")
    assert results == [] and switch.is_engaged
    with pytest.raises(services.OrderValidationError) as caught:
        intent_for(trading_customer, market, operator)
    assert "kill switch" in caught.value.message
    services.release_kill_switch(switch=switch, actor=operator, reason="cleared")
    assert intent_for(trading_customer, market, operator).status == OrderIntent.Status.NEW


def test_an_intent_written_before_the_switch_is_not_sent_after_it(trading_customer, operator):
    market = f.market("polymarket")
    intent = intent_for(trading_customer, market, operator)
    services.engage_kill_switch(scope="market", exchange="polymarket", market_native_id=market.order_market_id,
                                actor=operator, reason="market halted")
    result = services.submit_intent(intent=intent, actor=operator)
    assert not result.sent
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.WITHDRAWN and "kill switch" in intent.error_message


def test_the_whole_builder_switch_stops_every_customer(trading_customer, operator):
    services.engage_kill_switch(scope="builder", actor=operator, reason="exchange incident")
    for exchange in ("polymarket", "kalshi"):
        with pytest.raises(services.OrderValidationError):
            intent_for(trading_customer, f.market(exchange, min_order_size=Decimal("1")), operator)


def test_one_engaged_switch_per_scope(trading_customer, operator):
    services.engage_kill_switch(scope="customer", customer=trading_customer, actor=operator, reason="one")
    with pytest.raises(services.TradingError) as caught:
        services.engage_kill_switch(scope="customer", customer=trading_customer, actor=operator, reason="two")
    assert caught.value.code == "already_engaged"


def test_a_reason_is_required(operator):
    with pytest.raises(services.TradingError):
        services.engage_kill_switch(scope="builder", actor=operator, reason="  ")


def test_the_scope_must_name_its_target(operator):
    with pytest.raises(IntegrityError), transaction.atomic():
        KillSwitch.objects.create(scope="customer", reason="x", engaged_by=operator)


def test_releasing_twice_is_refused(operator):
    switch, _ = services.engage_kill_switch(scope="builder", actor=operator, reason="x")
    services.release_kill_switch(switch=switch, actor=operator)
    with pytest.raises(services.TradingError):
        services.release_kill_switch(switch=switch, actor=operator)
