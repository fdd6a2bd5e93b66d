from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice import dashboard
from customers import views_360

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Before the admin's own URLs; each is wrapped by the admin's login and permission check.
    path("admin/dashboard/<slug:section>/", admin.site.admin_view(dashboard.section_view), name="dashboard_section"),
    path("admin/customers/360/", admin.site.admin_view(views_360.customer_search), name="customer_360_search"),
    path("admin/customers/360/<int:pk>/", admin.site.admin_view(views_360.customer_360), name="customer_360"),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
]
