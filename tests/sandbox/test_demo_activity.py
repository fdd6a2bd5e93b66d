"""`parsec_sandbox --demo-activity` gives the demo customers a small, deterministic history, with a
true case of each surveillance rule (the back-office side: tests/backoffice/test_demo_alerts.py)."""

import pytest

from sandbox import seed
from sandbox.models import Customer, Fill, Market, Order, Settlement, Wallet

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def test_demo_customers_get_fills_and_resting_bids():
    seed.seed(11)
    placed = seed.demo_activity(11)
    assert placed == Order.objects.count() == len(seed.DEMO_EXTERNAL_IDS) * 3 * 2 + 27
    assert Fill.objects.filter(order__customer__external_id__in=seed.DEMO_EXTERNAL_IDS).exists()
    assert Order.objects.filter(status="open").exists()
    resolved = Market.objects.get(question=seed.DEMO_RESOLVED_QUESTION)
    assert resolved.status == "resolved" and Settlement.objects.filter(market=resolved, customer__external_id="demo-carol").exists()
    erin, frank = (Customer.objects.get(external_id=e) for e in seed.SHARED_WALLET_IDS)
    assert Wallet.objects.get(customer=erin).eoa_address == Wallet.objects.get(customer=frank).eoa_address
    assert Fill.objects.filter(customer=frank, is_taker=True, order__side="buy").exists()
    assert Order.objects.filter(customer__external_id="demo-bob", status="cancelled").count() == 20
