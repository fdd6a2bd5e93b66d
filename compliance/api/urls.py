from api.routing import ApiRouter
from compliance.api import views

router = ApiRouter()
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = router.urls
