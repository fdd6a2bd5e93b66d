from api.routing import ApiRouter
from orders.api import views

router = ApiRouter()
router.register("markets", views.MarketViewSet, basename="market")
router.register("orders", views.OrderViewSet, basename="order")
router.register("fills", views.FillViewSet, basename="fill")
router.register("positions", views.PositionViewSet, basename="position")
router.register("order-intents", views.OrderIntentViewSet, basename="orderintent")

urlpatterns = router.urls
