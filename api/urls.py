"""The API's own views (who am I, schema, docs, the JSON 404). Each app's endpoints live in
``<app>/api/urls.py`` and are mounted beside these by the project's urls (``backoffice.urls``)."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import path

from api.views import DocsView, SchemaView, WhoAmIView

app_name = "api"

# DRF authenticates API calls itself (tokens or session) and answers 401/403 in JSON, so the
# site-wide login redirect is switched off for these views.
urlpatterns = [
    path("whoami/", login_not_required(WhoAmIView.as_view()), name="whoami"),
    path("schema/", login_not_required(SchemaView.as_view()), name="schema"),
    # The viewer is a page for people: an anonymous visitor goes to the admin login first.
    path("docs/", login_required(DocsView.as_view(url_name="api:schema")), name="docs"),
]
