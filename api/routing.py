"""URL helpers shared by the apps' ``api/urls.py``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


class ApiRouter(SimpleRouter):
    """A router whose views skip the site-wide login redirect: DRF authenticates API calls itself
    (token or session) and answers 401/403 in the API's error shape instead of a redirect.
    Object ids are integers; anything else falls through to the API's JSON 404."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        viewset.lookup_value_regex = getattr(viewset, "lookup_value_regex", None) or "[0-9]+"
        return super().get_lookup_regex(viewset, lookup_prefix)

    def get_urls(self):
        urls = super().get_urls()
        for pattern in urls:
            pattern.callback.login_required = False
        return urls


def api_view(viewset, actions: dict):
    """One action of a ViewSet as a view, with the same login handling as the router's."""
    view = viewset.as_view(actions)
    view.login_required = False
    return view
