"""Base classes for the apps' API views: read-only lists with the admin's FilterSets."""

from __future__ import annotations

from rest_framework import mixins, viewsets


class MirrorReadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read-only list + detail over a mirrored table.

    Filtering uses the app's FilterSet (the same class the admin's list filters use), ordering
    is limited to indexed columns, and cursor paging never counts the table.
    """

    ordering_fields = ["created_at"]
    ordering = ["-created_at"]


def validated(serializer_class, request) -> dict:
    """Validate a write's body with an input serializer; a bad body is a 400 naming each field."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
