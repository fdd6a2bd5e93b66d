from api.routing import ApiRouter
from customers.api import views

router = ApiRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("balances", views.BalanceSnapshotViewSet, basename="balance")

urlpatterns = router.urls
