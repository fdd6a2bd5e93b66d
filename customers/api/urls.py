from api.routing import ApiRouter
from customers.api import views

router = ApiRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("balances", views.BalanceSnapshotViewSet, basename="balance")
router.register("sync-runs", views.SyncRunViewSet, basename="syncrun")

urlpatterns = router.urls
