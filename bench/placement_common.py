"""What the placement benchmarks share: trading customers at the sandbox and in the mirror, and
the Polymarket market they trade (Django must be set up first)."""

from __future__ import annotations


def trading_customers(sandbox, *, prefix: str, count: int, usdc: str) -> list:
    """``count`` end-users at the sandbox, onboarded to Polymarket and credited ``usdc``, mirrored
    with their exchange link and balance."""
    from customers.models import BalanceSnapshot, Customer, ExchangeLink
    from parsec.client import get_client

    client = get_client()
    rows = []
    for n in range(count):
        user = client.create_user(external_id=f"{prefix}-{n:03d}")
        client.onboard(customer_id=user.customer_id, exchange="polymarket", mode="managed")
        sandbox.control("POST", "credit", json={"customer_id": user.customer_id, "exchange": "polymarket", "amount_usdc": usdc})
        customer = Customer.objects.create(parsec_customer_id=user.customer_id, external_id=user.external_id)
        ExchangeLink.objects.create(customer=customer, exchange="polymarket", mode="managed")
        balance = client.get_balance(customer_id=user.customer_id, exchange="polymarket")
        BalanceSnapshot.objects.create(customer=customer, exchange="polymarket", usdc_base_units=balance.usdc_base_units)
        rows.append(customer)
    return rows


def binary_polymarket_market():
    """The first binary Polymarket market the sandbox lists, in the catalogue."""
    from orders.models import Market
    from parsec.client import get_client

    for m in get_client().iter_markets(exchanges=["polymarket"], status="active"):
        if m.market_type == "binary" and m.condition_id:
            row, _ = Market.objects.get_or_create(parsec_id=m.parsec_id, defaults={
                "exchange": "polymarket", "exchange_market_id": m.exchange_market_id, "order_market_id": m.condition_id,
                "question": m.question, "outcomes": [{"name": o.name} for o in m.outcomes], "market_type": "binary",
                "tick_size": m.tick_size, "min_order_size": m.min_order_size,
            })
            return row
    raise SystemExit("the sandbox has no binary Polymarket market")
