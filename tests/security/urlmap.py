"""The project's whole URL map as concrete URLs, for tests that walk every page and endpoint."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver


def walk(patterns=None, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str | None]]:
    """(route pattern, namespaced name) of every URL pattern, depth first."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}" if entry.name else None


def concrete(route: str) -> str:
    """Turn a route pattern (path() or regex) into a URL, filling every parameter."""
    route = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
    route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route)
    route = re.sub(r"<(?:int:)?[a-z_]*>", "1", route)
    route = re.sub(r"<[a-z]+:[a-z_]+>", "x", route)
    route = route.replace("\\.", ".").replace("/?", "/").replace("[\\s\\S]*", "anything/")
    return "/" + re.sub(r"[\^$?]", "", route)


def urls() -> list[tuple[str, str | None]]:
    """(concrete URL, name) for every pattern."""
    return [(concrete(route), name) for route, name in walk()]
