"""The order ticket fits the case: only the customer's exchanges, the market's own outcomes, and a
book the page polls every second."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests import factories as f

pytestmark = pytest.mark.django_db


def test_only_the_exchanges_the_customer_is_linked_to_are_offered(operator_client):
    customer = f.customer()
    f.ExchangeLinkFactory(customer=customer, exchange="kalshi")
    page = operator_client.get(reverse("admin:orders_orderintent_place"), {"customer": customer.pk})
    assert [value for value, _ in page.context["form"].fields["exchange"].choices] == ["kalshi"]


def test_the_outcome_is_a_choice_from_the_market(operator_client):
    market = f.market("polymarket")
    options = operator_client.get(reverse("admin:orders_orderintent_outcomes"), {"market": market.pk, "outcome": "No"}).content.decode()
    assert '<option value="Yes" >Yes</option>' in options and '<option value="No" selected>No</option>' in options


def test_the_book_is_polled_every_second_and_nothing_is_refused_before_submit(operator_client, trading_customer):
    page = operator_client.get(reverse("admin:orders_orderintent_place"), {"customer": trading_customer.pk}).content.decode()
    assert 'hx-trigger="load, every 1000ms' in page and "This field is required" not in page
