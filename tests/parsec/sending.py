"""Order creation for the gateway's tests: ``parsec.order_creation`` with the order as keywords."""

from __future__ import annotations

from parsec.order_creation import NewOrder, create_order


def send_order(client, *, customer_id: str, **order):
    return create_order(client, NewOrder(**order), customer_id=customer_id)
