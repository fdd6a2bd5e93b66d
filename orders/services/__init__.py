"""Operator trading: place and cancel orders for a customer, exactly once, on record.

Every write here is a short transaction; every call to Parsec happens outside any transaction
(``core.db.assert_no_transaction``). The database holds what must not be lost: an ``OrderIntent`` is
committed before Parsec hears of the order, and the broker only carries hints (which intent to
look at next); the sweeper rebuilds them from the database.

One module per seam, each importing only those below it (``lint-imports``: no circles):

- ``validation``: the rules, checked when an intent is written and again just before it is sent;
- ``intents``: ``create_intent(*, request, actor, key)`` (an ``OrderRequest``; the key bound to its
  principal and its order), withdraw, four-eyes request, queue for a worker;
- ``placement``: ``submit_intent(*, intent, actor, fee_auth=None, credentials=None)``, the ONE
  entry the admin, the API, the approval handler and the task call;
- ``outcomes``: Parsec's answer → placed / rejected / not placed / unknown / needs review;
- ``reconciliation``: ``reconcile_intent``, ``sweep_order_intents`` (the beat job);
- ``cancel``, ``killswitch``: cancelling, freezing a scope (and catching orders in flight);
- ``four_eyes``: what an approved, refused or expired order request does;
- below them: ``errors``, ``values`` (``OrderRequest``, results) and ``common`` (clock, audit,
  gateway, broker hints); shared reads are in ``orders.selectors``.
"""

from orders.selectors import (
    committed_buy_usdc,
    committed_sell_size,
    engaged_kill_switch,
    latest_balance,
    position_size,
)
from orders.services.cancel import cancel_orders, orders_to_cancel
from orders.services.common import fee_usdc, needs_four_eyes, order_market_id
from orders.services.errors import OrderValidationError, TradingError
from orders.services.four_eyes import register_approval_actions
from orders.services.intents import create_intent, queue_placement, submit_for_approval, withdraw_intent
from orders.services.killswitch import cancel_for_switch, engage_kill_switch, release_kill_switch
from orders.services.placement import submit_intent
from orders.services.reconciliation import reconcile_intent, sweep_order_intents
from orders.services.validation import live_order_book, preview_order, validate_order
from orders.services.values import CancelResult, OrderPreview, OrderRequest, PlacementResult

__all__ = [
    "CancelResult", "OrderPreview", "OrderRequest", "OrderValidationError", "PlacementResult", "TradingError",
    "cancel_for_switch", "cancel_orders", "committed_buy_usdc", "committed_sell_size", "create_intent",
    "engage_kill_switch", "engaged_kill_switch", "fee_usdc", "latest_balance", "live_order_book", "needs_four_eyes",
    "order_market_id", "orders_to_cancel", "position_size", "preview_order", "queue_placement", "reconcile_intent",
    "register_approval_actions", "release_kill_switch", "submit_for_approval", "submit_intent", "sweep_order_intents",
    "validate_order", "withdraw_intent",
]
