"""`parsec_sandbox --demo-activity` gives the demo customers a small, deterministic history."""

import pytest

from sandbox import seed
from sandbox.models import Fill, Order

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def test_demo_customers_get_fills_and_resting_bids():
    seed.seed(11)
    placed = seed.demo_activity(11)
    assert placed == Order.objects.count() == len(seed.DEMO_EXTERNAL_IDS) * 3 * 2
    assert Fill.objects.filter(order__customer__external_id__in=seed.DEMO_EXTERNAL_IDS).exists()
    assert Order.objects.filter(status="open").exists()
