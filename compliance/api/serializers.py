from __future__ import annotations

from rest_framework import serializers

from compliance.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq", "at", "actor", "actor_name", "action", "customer", "customer_ref", "reason", "request", "outcome",
            "response", "prev_hash", "hash",
        ]
