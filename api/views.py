from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import _roles
from api.serializers import WhoAmISerializer


class WhoAmIView(APIView):
    """Who the API thinks you are: the cheapest authenticated endpoint (the benchmarks' baseline)."""

    @extend_schema(responses=WhoAmISerializer, operation_id="whoami", tags=["api"])
    def get(self, request):
        token = request.auth if hasattr(request.auth, "prefix") else None
        return Response(WhoAmISerializer({
            "username": request.user.get_username(),
            "kind": "token" if token else "session",
            "token_name": token.name if token else None,
            "roles": sorted(_roles(request.user)),
        }).data)


class SchemaView(SpectacularAPIView):
    pass


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served from this URL (``?script``), not inlined: the
    Content-Security-Policy runs no inline script."""


class NotFoundView(APIView):
    """Any other path under /api/: authenticated like every endpoint, then a 404 in the error shape."""

    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound("No API endpoint at this path.")
