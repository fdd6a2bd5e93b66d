"""/_sandbox/ control plane routes (``/_sandbox/health`` itself is served by sandbox.urls)."""

from django.urls import path

from sandbox import control as c

urlpatterns = [
    path("clock", c.control_view({"GET": c.get_clock})),
    path("clock/advance", c.control_view({"POST": c.advance_clock})),
    path("markets", c.control_view({"POST": c.create_market})),
    path("markets/<str:parsec_id>", c.control_view({"GET": c.market_state})),
    path("markets/<str:parsec_id>/move", c.control_view({"POST": c.move_market})),
    path("markets/<str:parsec_id>/close", c.control_view({"POST": c.close_market})),
    path("markets/<str:parsec_id>/resolve", c.control_view({"POST": c.resolve_market})),
    path("markets/<str:parsec_id>/void", c.control_view({"POST": c.void_market})),
    path("settlements", c.control_view({"GET": c.list_settlements})),
    path("credit", c.control_view({"POST": c.credit})),
    path("faults", c.control_view({"GET": c.list_faults, "POST": c.add_fault, "DELETE": c.clear_faults})),
    path("faults/<int:fault_id>", c.control_view({"DELETE": c.delete_fault})),
    path("builders/<str:key_or_id>/pool", c.control_view({"POST": c.set_pool})),
    path("builders/<str:key_or_id>/escrow", c.control_view({"POST": c.set_builder_escrow})),
    path("limits", c.control_view({"GET": c.get_limits, "POST": c.set_limits})),
    path("chain", c.control_view({"GET": c.chain_status})),
    path("chain/mine", c.control_view({"POST": c.chain_mine})),
    path("chain/snapshot", c.control_view({"POST": c.chain_snapshot})),
    path("chain/revert", c.control_view({"POST": c.chain_revert})),
    path("chain/faucet", c.control_view({"POST": c.chain_faucet})),
    path("wallets/<str:address>/sign-fee-auth", c.control_view({"POST": c.sign_fee_auth})),
    path("reset", c.control_view({"POST": c.reset})),
]
