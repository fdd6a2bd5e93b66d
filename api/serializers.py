from __future__ import annotations

from rest_framework import serializers


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    kind = serializers.ChoiceField(choices=["token", "session"])
    token_name = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())


class ClosedSerializer(serializers.Serializer):
    """An input that refuses keys it does not know (400), and says so in the schema
    (``additionalProperties: false``, api.schema), so clients and the server agree. The error
    names the keys only: a value may be a secret."""

    unknown_fields_message = "Unexpected fields: {}."

    def to_internal_value(self, data):
        unknown = set(data) - set(self.fields) if isinstance(data, dict) else set()
        if unknown:
            raise serializers.ValidationError(self.unknown_fields_message.format(", ".join(sorted(map(str, unknown)))))
        return super().to_internal_value(data)
