"""Every route the API's URLconf answers, as the OpenAPI schema writes paths ("/api/orders/{id}")."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver


def api_routes(patterns, prefix="/api/"):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            route = str(entry.pattern).lstrip("^").rstrip("$")
            route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
            route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
            if "format" in route:
                continue
            yield (prefix + route).replace("\\", "").rstrip("/").replace("{pk}", "{id}")
