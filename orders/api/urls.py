from django.urls import path

from api.routing import ApiRouter, api_view
from orders.api import views

router = ApiRouter()
router.register("markets", views.MarketViewSet, basename="market")
router.register("orders", views.OrderViewSet, basename="order")
router.register("fills", views.FillViewSet, basename="fill")
router.register("positions", views.PositionViewSet, basename="position")
router.register("settlements", views.SettlementViewSet, basename="settlement")
router.register("order-intents", views.OrderIntentViewSet, basename="orderintent")
router.register("escrow-records", views.FeeEscrowRecordViewSet, basename="feeescrowrecord")

urlpatterns = [
    path("order-intents/place/", api_view(views.PlaceOrderView, {"post": "create"}), name="orderintent-place"),
    path("order-intents/<int:pk>/reconcile/", api_view(views.PlaceOrderView, {"post": "reconcile"}), name="orderintent-reconcile"),
    path("orders/<int:pk>/cancel/", api_view(views.CancelOrdersView, {"post": "cancel_one"}), name="order-cancel"),
    path("orders/cancel-all/", api_view(views.CancelOrdersView, {"post": "cancel_all"}), name="order-cancel-all"),
    path("pnl/", api_view(views.PnlView, {"get": "retrieve"}), name="pnl"),
    path("escrow-config/", api_view(views.EscrowConfigView, {"get": "retrieve"}), name="escrow-config"),
    *router.urls,
]
