from __future__ import annotations

from rest_framework import serializers


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    kind = serializers.ChoiceField(choices=["token", "session"])
    token_name = serializers.CharField(allow_null=True)
    roles = serializers.ListField(child=serializers.CharField())
