"""URLs of the sandbox process (ROOT_URLCONF under sandbox.settings)."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import include, path, re_path

from sandbox.api import builder, market_data, trading, websocket
from sandbox.chain import rpc
from sandbox.http import api_view, not_found, not_supported_view


def health(request):
    return JsonResponse({"status": "ok"})


def _unsupported(what: str, methods=("GET", "POST")):
    fn = not_supported_view(what)
    return api_view({method: (f"unsupported.{what}", fn) for method in methods})


v1 = [
    path("exchanges", api_view({"GET": ("exchanges", market_data.exchanges)}, impersonation=False)),
    path("markets", api_view({"GET": ("markets", market_data.markets)}, impersonation=False)),
    path("orderbook", api_view({"GET": ("orderbook", market_data.orderbook)}, impersonation=False)),
    path("price", api_view({"GET": ("price", market_data.price)}, impersonation=False)),
    path("trades", api_view({"GET": ("trades", market_data.trades)}, impersonation=False)),
    path("events", api_view({"GET": ("events", market_data.events)}, impersonation=False)),
    path("execution-price", api_view({"GET": ("execution_price", market_data.execution_price)}, impersonation=False)),
    path("orders", api_view({"POST": ("orders.create", trading.create_order), "GET": ("orders.list", trading.list_orders)})),
    path("orders/<str:order_id>", api_view({"GET": ("orders.get", trading.get_order), "DELETE": ("orders.cancel", trading.cancel_order)})),
    path("fills", api_view({"GET": ("fills", trading.list_fills)})),
    path("positions", api_view({"GET": ("positions", trading.list_positions)})),
    path("balance", api_view({"GET": ("balance", trading.balance)})),
    path("ping", api_view({"GET": ("ping", trading.ping)})),
    path("usage", api_view({"GET": ("usage", trading.usage)})),
    path("user-activity", api_view({"GET": ("user_activity", trading.user_activity)})),
    path("ws/usage", api_view({"GET": ("ws.usage", websocket.usage)}, impersonation=False)),
    path("wallet", api_view({"GET": ("wallet", trading.wallet_state)})),
    path("onboard", api_view({"POST": ("onboard", trading.trader_onboard)})),
    path("builder/users", api_view({"POST": ("builder.users.create", builder.create_user), "GET": ("builder.users.list", builder.list_users)}, impersonation=False)),
    path("builder/users/<str:customer_id>", api_view({
        "GET": ("builder.users.get", builder.get_user),
        "PATCH": ("builder.users.update", builder.update_user),
        "DELETE": ("builder.users.deactivate", builder.deactivate_user),
    }, impersonation=False)),
    path("builder/onboard", api_view({"POST": ("builder.onboard", builder.onboard)}, impersonation=False)),
    path("builder/pool", api_view({"GET": ("builder.pool", builder.pool)}, impersonation=False)),
    path("builder/escrow/config", api_view({"GET": ("builder.escrow.config", builder.escrow_config)}, impersonation=False)),
    # Parsec has these; the back-office does not need them: 501 in Parsec's error shape, not 404.
    path("wallet/export-key", _unsupported("wallet export")),
    path("polymarket/ctf/<str:action>", _unsupported("CTF split/merge/redeem")),
    path("billing/<path:rest>", _unsupported("billing")),
    re_path(r"^.*$", not_found),
]

urlpatterns = [
    path("_sandbox/health", health),
    path("_chain", rpc.view),
    path("_sandbox/", include("sandbox.control_urls")),
    path("api/v1/", include(v1)),
]

handler404 = "sandbox.http.not_found"
