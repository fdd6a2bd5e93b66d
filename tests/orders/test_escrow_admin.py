"""The escrow pages: the order form's fee section (sandbox demo wallet signs), the configuration
page read from Parsec, the records list and the re-check button; roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orders import escrow
from orders.models import FeeEscrowRecord, OrderIntent
from tests.fee_escrow import mine, polymarket_market

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_places_an_order_with_a_fee_from_the_form(client, alice, operator, capture_enqueues):
    client.force_login(operator)
    market = polymarket_market()
    page = client.get(reverse("admin:orders_orderintent_place") + f"?customer={alice.pk}").content.decode()
    assert "Collect a builder fee" in page
    form = client.get(reverse("admin:orders_orderintent_place") + f"?customer={alice.pk}").context["form"]
    response = client.post(reverse("admin:orders_orderintent_place"), {
        "key": form.initial["key"], "customer": alice.pk, "exchange": "polymarket", "market": market.pk, "outcome": "Yes",
        "side": "buy", "price": "0.55", "size": "100", "order_type": "gtc", "reason": "fee rehearsal",
        "collect_fee": "on", "fee_bps": "",
    })
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    intent = OrderIntent.objects.get()
    assert intent.fee_base_units == 137_500 and intent.fee_auth_order_id
    client.post(reverse("admin:orders_orderintent_confirm", args=[intent.key]), {"action": "send"})
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED, intent.error_message
    # The pull is in the sandbox's next block: mine it and check the record again (the beat would).
    mine()
    record = escrow.check_record(record=FeeEscrowRecord.objects.get(intent=intent))
    assert record.fee_base_units == 137_500 and record.discrepancy == "" and record.chain_state == record.state

    listing = client.get(reverse("admin:orders_feeescrowrecord_changelist")).content.decode()
    assert record.fee_order_id[:12] in listing
    response = client.post(reverse("admin:orders_feeescrowrecord_check", args=[record.pk]), follow=True)
    assert "Matches the escrow" in response.content.decode()


def test_a_fee_on_kalshi_is_refused_by_the_form(client, alice, operator):
    from orders.models import Market

    client.force_login(operator)
    market = Market.objects.filter(exchange="kalshi", status="active").first()
    response = client.post(reverse("admin:orders_orderintent_place"), {
        "key": "6f1c1f1e-1111-4111-8111-111111111111", "customer": alice.pk, "exchange": "kalshi", "market": market.pk,
        "outcome": "Yes", "side": "buy", "price": "0.10", "size": "10", "order_type": "gtc", "reason": "x", "collect_fee": "on",
    })
    assert response.status_code == 200 and "The fee escrow is on Polymarket only." in response.content.decode()
    assert not OrderIntent.objects.exists()


def test_the_configuration_page_reads_parsec(client, escrow_settings, reviewer, operator):
    client.force_login(reviewer)
    page = client.get(reverse("admin:orders_feeescrowrecord_configuration")).content.decode()
    assert "25 bps" in page and "0.1 USDC (100000 base units)" in page and "5000 bps" in page
    assert "100 contracts at 0.55 → fee 0.1375 USDC" in page


def test_compliance_cannot_recheck_a_record(client, alice, operator, reviewer, capture_enqueues):
    from decimal import Decimal

    from orders import escrow, services
    from orders.services import OrderRequest

    intent = services.create_intent(actor=operator, request=OrderRequest(customer=alice, exchange="polymarket", market=polymarket_market(), outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="x", fee_base_units=100_000, fee_auth_order_id=escrow.new_fee_order_id()))
    services.submit_intent(intent=intent, actor=operator)
    record = FeeEscrowRecord.objects.get(intent=intent)
    client.force_login(reviewer)
    assert client.get(reverse("admin:orders_feeescrowrecord_changelist")).status_code == 200
    assert client.post(reverse("admin:orders_feeescrowrecord_check", args=[record.pk])).status_code == 403
    assert client.get(reverse("admin:orders_orderintent_place") + f"?customer={alice.pk}").status_code == 403


def test_without_a_sandbox_signer_an_order_with_a_fee_is_not_sent(alice, operator, settings, capture_enqueues):
    from decimal import Decimal

    from orders import escrow, services
    from orders.services import OrderRequest

    intent = services.create_intent(actor=operator, request=OrderRequest(customer=alice, exchange="polymarket", market=polymarket_market(), outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="x", fee_base_units=100_000, fee_auth_order_id=escrow.new_fee_order_id()))
    settings.PARSEC_SANDBOX_ADMIN_KEY = ""
    with pytest.raises(escrow.FeeAuthError) as refused:
        services.submit_intent(intent=intent, actor=operator)
    assert refused.value.code == "no_signer"
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.NEW
