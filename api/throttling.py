"""Per-token throttling: each service account (or staff member) has its own budget."""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle


class PerTokenThrottle(SimpleRateThrottle):
    scope = "api"

    def get_cache_key(self, request, view) -> str | None:
        token = getattr(request, "auth", None)
        if token is not None and hasattr(token, "prefix"):
            return f"api-throttle:token:{token.prefix}"
        if request.user and request.user.is_authenticated:
            return f"api-throttle:user:{request.user.pk}"
        return None

    def allow_request(self, request, view) -> bool:
        token = getattr(request, "auth", None)
        rate = getattr(token, "throttle_rate", "") if token is not None else ""
        if rate:
            self.rate = rate
            self.num_requests, self.duration = self.parse_rate(rate)
        return super().allow_request(request, view)
