"""URL helpers shared by the apps' ``api/urls.py``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter


class ApiRouter(SimpleRouter):
    """A router whose views skip the site-wide login redirect: DRF authenticates API calls itself
    (token or session) and answers 401/403 in the API's error shape instead of a redirect."""

    def get_urls(self):
        urls = super().get_urls()
        for pattern in urls:
            pattern.callback.login_required = False
        return urls
