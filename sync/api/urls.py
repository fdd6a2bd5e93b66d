from django.contrib.auth.decorators import login_not_required
from django.urls import path

from api.routing import ApiRouter
from sync.api import views

router = ApiRouter()
router.register("sync-runs", views.SyncRunViewSet, basename="syncrun")

urlpatterns = [
    path("customers/<int:pk>/sync/", login_not_required(views.CustomerSyncView.as_view()), name="customer-sync"),
    *router.urls,
]
