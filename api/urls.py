from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path, re_path

from api.views import DocsView, NotFoundView, SchemaView, WhoAmIView

app_name = "api"

# DRF authenticates API calls itself (tokens or session) and answers 401/403 in JSON, so the
# site-wide login redirect is switched off for these views.
urlpatterns = [
    path("whoami/", login_not_required(WhoAmIView.as_view()), name="whoami"),
    path("", include("customers.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("compliance.api.urls")),
    path("schema/", login_not_required(SchemaView.as_view()), name="schema"),
    # The viewer is a page for people: an anonymous visitor goes to the admin login first.
    path("docs/", login_required(DocsView.as_view(url_name="api:schema")), name="docs"),
    re_path(r"^[\s\S]*$", login_not_required(NotFoundView.as_view()), name="not-found"),
]
