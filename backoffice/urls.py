from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from api.views import NotFoundView
from backoffice import customer_360, dashboard, rehearsal

# The API: its own views, then each app's endpoints, then a JSON 404 for anything else.
api_urlpatterns = [
    path("", include("api.urls")),
    path("", include("customers.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("compliance.api.urls")),
    path("", include("sync.api.urls")),
    re_path(r"^[\s\S]*$", login_not_required(NotFoundView.as_view()), name="api-not-found"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Before the admin's own URLs; each is wrapped by the admin's login and permission check.
    path("admin/dashboard/<slug:section>/", admin.site.admin_view(dashboard.section_view), name="dashboard_section"),
    path("admin/customers/360/", admin.site.admin_view(customer_360.customer_search), name="customer_360_search"),
    path("admin/customers/360/<int:pk>/", admin.site.admin_view(customer_360.customer_360), name="customer_360"),
    path("admin/rehearsal/", admin.site.admin_view(rehearsal.rehearsal_view), name="rehearsal"),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns)),
]
