"""The OpenAPI schema: every operation documents its error responses and, for writes, the
``Idempotency-Key`` header; the token scheme is declared so clients know how to authenticate."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

ERROR_DESCRIPTIONS = {
    400: "Invalid request: `error.fields` names each bad field (or query parameter).",
    401: "No credentials, or a token that is unknown, expired or revoked.",
    403: "The caller's role does not allow this (or a session write without its CSRF token).",
    404: "No such object, or an invalid cursor.",
    413: "The request body is larger than the API accepts.",
    409: "A request with the same Idempotency-Key is still in flight; retry after `Retry-After` seconds.",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Too many requests for this token; retry after `Retry-After` seconds.",
    502: "Parsec refused or failed in a way the caller cannot fix by changing the request; see `error.code`.",
    503: "Parsec is unavailable; the request had no effect and may be retried with the same Idempotency-Key.",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`, `insufficient_funds`.")
    message = serializers.CharField(help_text="A sentence an operator can act on.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), help_text="Field errors.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class BackofficeAutoSchema(AutoSchema):
    def _error_statuses(self) -> list[int]:
        statuses = [400, 401, 403, 429]
        if self.method == "GET" or "{" in self.path:
            statuses.append(404)
        if self.method in WRITE_METHODS:
            statuses += [409, 413, 422]
            statuses += getattr(self.view, "parsec_error_statuses", [])
        elif self.method == "GET":
            statuses += getattr(self.view, "parsec_read_error_statuses", [])  # reads answered live from Parsec
        return sorted(set(statuses))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._error_statuses():
            if str(status) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status), direction=direction)
                response["description"] = ERROR_DESCRIPTIONS[status]
                if status in (409, 429, 503):
                    response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
                responses[str(status)] = response
        return responses

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in WRITE_METHODS:
            parameters.append(OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, location=OpenApiParameter.HEADER, required=True,
                pattern=r"^[\x21-\x7e]{1,255}$",
                description=(
                    "A unique key per intended action (e.g. a UUID). Retrying with the same key and body replays the "
                    "first response with `Idempotent-Replayed: true`; the same key with another body is refused (422); "
                    "while the first request is in flight, 409. Keys are kept at least 24 hours."
                ),
            ))
        return parameters


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer", "bearerFormat": "pbo_<prefix>_<secret>",
            "description": "A service-account token issued in the admin (API tokens); shown once at creation.",
        }


class ClosedSerializerScheme(OpenApiSerializerExtension):
    """A serializer that refuses unknown keys is a closed object in the schema."""

    target_class = "api.serializers.ClosedSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": "A logged-in staff member's admin session; writes also need the X-CSRFToken header.",
        }


def strict_query_strings(result, generator, request, public):
    """Query strings are non-empty and free of NUL characters (Django refuses both): say so."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                    schema.setdefault("minLength", 1)
                    schema.setdefault("pattern", r"^[^\u0000]*$")
                items = schema.get("items", {})
                if parameter.get("in") == "query" and items.get("type") == "string" and "enum" not in items:
                    items.setdefault("minLength", 1)
                    items.setdefault("pattern", r"^[^\u0000]*$")
    return result
