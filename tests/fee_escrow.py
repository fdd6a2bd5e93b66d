"""Fee escrow helpers shared by the escrow tests (orders, API, security): the sandbox's demo payer,
the market they trade, and an EIP-712 fee authorisation signed with any key (fixtures ``alice``
and ``escrow_settings`` are in tests/conftest.py)."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from orders import escrow
from orders.models import Market
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
