"""An intent's page says one thing about where it stands, refreshes itself while the outcome is
unknown, and never says "awaiting approval" without a request behind it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from orders import services
from orders.messages import intent_state_label, intent_status_message
from orders.models import OrderIntent
from orders.services import OrderRequest
from tests import factories as f

pytestmark = pytest.mark.django_db
CONNECTION_LOST = "The connection to Parsec failed. For an order, it may or may not have been placed: it is being reconciled."


@pytest.fixture
def intent(trading_customer, operator):
    return services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=f.market("polymarket"),
                                  outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="r"))


def test_a_reconciled_not_placed_intent_says_it_was_not_placed_and_nothing_else(intent):
    OrderIntent.objects.filter(pk=intent.pk).update(
        status=OrderIntent.Status.NOT_PLACED, error_code="connection_error", error_message=CONNECTION_LOST,
        reconcile_attempts=3, reconcile_note="No matching order at Parsec after the settling time.")
    intent.refresh_from_db()
    message = intent_status_message(intent)
    assert message.startswith("Not placed: no matching order at Parsec after the settling time.")
    assert "may or may not" not in message and "being reconciled" not in message


def test_an_unknown_intent_names_the_failure_once(intent):
    OrderIntent.objects.filter(pk=intent.pk).update(status=OrderIntent.Status.UNKNOWN, error_message=CONNECTION_LOST)
    intent.refresh_from_db()
    message = intent_status_message(intent)
    assert message.count("reconcil") == 1 and "may or may not" not in message
    assert "The connection to Parsec failed." in message


def test_a_large_order_only_reviewed_is_not_shown_as_awaiting_approval(trading_customer, operator, settings, operator_client):
    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = 1
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=trading_customer, exchange="polymarket", market=f.market("polymarket"),
                                    outcome="Yes", side="buy", price=Decimal("0.50"), size=Decimal("10"), reason="r"))
    assert intent.status == OrderIntent.Status.AWAITING_APPROVAL and intent.approval_id is None
    assert intent_state_label(intent) == "Needs approval: not submitted yet"
    assert "Submit it for approval" in intent_status_message(intent)
    page = operator_client.get(reverse("admin:orders_orderintent_detail", args=[intent.key])).content.decode()
    assert "Awaiting a second operator" not in page and "Needs approval: not submitted yet" in page
    services.submit_for_approval(intent=intent, actor=operator)
    intent.refresh_from_db()
    assert intent_state_label(intent) == "Awaiting a second operator's approval"


def test_the_intent_page_polls_while_the_outcome_is_unknown_and_stops_once_resolved(intent, operator_client):
    OrderIntent.objects.filter(pk=intent.pk).update(status=OrderIntent.Status.UNKNOWN, error_message=CONNECTION_LOST)
    fragment_url = reverse("admin:orders_orderintent_state", args=[intent.key])
    page = operator_client.get(reverse("admin:orders_orderintent_detail", args=[intent.key])).content.decode()
    assert f'hx-get="{fragment_url}"' in page
    OrderIntent.objects.filter(pk=intent.pk).update(status=OrderIntent.Status.NOT_PLACED,
                                                    reconcile_note="No matching order at Parsec after the settling time.")
    fragment = operator_client.get(fragment_url).content.decode()
    assert "hx-get" not in fragment and "Not placed: no matching order" in fragment
