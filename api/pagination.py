"""Cursor pagination: stable pages over tables that grow while being read, no COUNT(*)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size_query_param = "page_size"
    ordering = "-created_at"

    @property
    def max_page_size(self) -> int:
        return settings.API_PAGE_SIZE_MAX
