"""A fresh start's demo shows compliance real alerts: the sandbox's --demo-activity holds a true
case of every surveillance rule, and seed_demo (what run_product runs) syncs it and raises them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from compliance.models import Alert
from orders.models import Market, Settlement
from tests.sandbox_client import start_sandbox, stop_sandbox

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(scope="module")
def demo_sandbox(tmp_path_factory):
    proc = start_sandbox(tmp_path_factory.mktemp("demo-sandbox"), seed=42, demo_activity=True)
    yield proc
    stop_sandbox(proc)


def test_seed_demo_on_a_fresh_demo_sandbox_raises_an_alert_of_every_rule(settings, demo_sandbox, capsys):
    settings.PARSEC_API_BASE_URL = demo_sandbox.base_url
    settings.PARSEC_API_KEY = demo_sandbox.builder_key
    call_command("seed_demo")
    raised = {rule: list(Alert.objects.filter(rule=rule).select_related("customer")) for rule in Alert.Rule.values}
    assert all(raised.values()), {rule: len(alerts) for rule, alerts in raised.items()}
    who = {rule: {a.customer.external_id for a in alerts} for rule, alerts in raised.items()}
    assert "demo-carol" in who["insider"] and "demo-dave" in who["concentration"]
    assert who["self_crossing"] & {"demo-erin", "demo-frank"} and "demo-bob" in who["layering"]
    assert "demo-alice" in who["size_change"] and "demo-grace" in who["large_notional"]
    resolved = Market.objects.get(question="Demo: will the demo bill pass by Friday?")
    assert (resolved.status, resolved.winning_outcome) == ("resolved", "Yes")
    settlement = Settlement.objects.get(market=resolved, customer__external_id="demo-carol")
    assert settlement.result == "won" and settlement.basis == "fills" and settlement.amount_base_units == int(settlement.size) * 1_000_000
    assert "surveillance:" in capsys.readouterr().out
