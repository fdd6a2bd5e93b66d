"""What a caller may do: a role first, then the permission the endpoint names."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.roles import ROLES


def _roles(user) -> frozenset[str]:
    cached = getattr(user, "_api_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._api_roles = cached
    return cached


def required_permission(request, view) -> str | None:
    """The permission an endpoint needs: named per action/method, else view_<model> for reads."""
    named = getattr(view, "required_permissions", {})
    action = getattr(view, "action", None)
    if action in named:
        return named[action]
    if request.method in named:
        return named[request.method]
    if request.method in SAFE_METHODS:
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            return None
        meta = queryset.model._meta
        return f"{meta.app_label}.view_{meta.model_name}"
    # A write nobody mapped to a permission is refused rather than left open.
    return "api.unmapped_write"


class HasApiRole(BasePermission):
    """Only staff in a role (or service accounts bound to one) reach the API."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if not (user.is_superuser or _roles(user)):
            return False
        permission = required_permission(request, view)
        return permission is None or user.has_perm(permission)
