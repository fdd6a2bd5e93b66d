"""Fee escrow helpers shared by the escrow tests (orders, API, security): the sandbox's demo payer,
the market they trade, an EIP-712 fee authorisation signed with any key, and a fee order placed
through the back-office's service (fixtures ``alice`` and ``escrow_settings`` are in
tests/conftest.py, ``follow_ups`` in tests/orders/conftest.py)."""

from __future__ import annotations

from decimal import Decimal

from eth_account import Account
from eth_account.messages import encode_typed_data

from orders import escrow, fees, services
from orders.models import FeeEscrowRecord, Market, OrderIntent
from orders.services import OrderRequest
from parsec.client import get_client
from parsec.types import FeeAuthorization
from tests.sandbox_client import mine_chain, sync_one_customer


def demo_customer(external_id: str = "demo-alice"):
    user = next(u for u in get_client().iter_users() if u.external_id == external_id)
    return sync_one_customer(user.customer_id)


def polymarket_market() -> Market:
    return Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()


def signed_by(key: str, *, contract: str, order_id: str, payer: str, fee: int, deadline: int) -> FeeAuthorization:
    message = encode_typed_data(full_message=escrow.pull_fee_typed_data(
        contract=contract, order_id=order_id, payer=payer, fee_amount=fee, deadline=deadline))
    signature = "0x" + Account.sign_message(message, private_key=key).signature.hex().removeprefix("0x")
    return FeeAuthorization(order_id=order_id, payer=payer, fee_amount=fee, deadline=deadline, signature=signature)


def mine() -> None:
    """The sandbox queues escrow transactions for its next block: mine it now."""
    from django.conf import settings

    mine_chain(settings.PARSEC_API_BASE_URL, settings.PARSEC_SANDBOX_ADMIN_KEY)


def fee_intent(customer, operator, *, price: str, size: str, order_type: str = "gtc", market=None) -> OrderIntent:
    """An order intent carrying the builder's fee for it, with a fresh escrow order id."""
    config = escrow.escrow_config()
    market = market or polymarket_market()
    fee = fees.fee_for_config(config=config, price=Decimal(price), size=Decimal(size))
    return services.create_intent(actor=operator, request=OrderRequest(
        customer=customer, exchange="polymarket", market=market, outcome="Yes", side="buy", price=Decimal(price),
        size=Decimal(size), order_type=order_type, reason="escrow test", fee_base_units=fee,
        fee_auth_order_id=escrow.new_fee_order_id(),
    ))


def place(intent, operator, *, mine_after: bool = True) -> FeeEscrowRecord:
    """Place through the one placement entry with the fee (the demo wallet signs), then mine what the sandbox queued."""
    result = services.submit_intent(intent=intent, actor=operator, fee_auth=escrow.sandbox_fee_auth(intent=intent))
    assert result.intent.status == OrderIntent.Status.PLACED, result.message
    if mine_after:
        mine()
    return FeeEscrowRecord.objects.get(intent=intent)
