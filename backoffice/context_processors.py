"""What every admin page shows whatever its app: the engaged kill switches (a red banner)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def _engaged_switches(request) -> list:
    from orders.models import KillSwitch

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return []
    return list(KillSwitch.objects.filter(released_at__isnull=True).select_related("customer", "engaged_by")
                .order_by("engaged_at")[:10])


def kill_switches(request) -> dict:
    """``engaged_kill_switches``: read only by the pages that render the banner (lazily)."""
    return {"engaged_kill_switches": SimpleLazyObject(lambda: _engaged_switches(request))}
