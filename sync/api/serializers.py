"""What the API shows of sync runs, and what a sync request takes."""

from __future__ import annotations

from rest_framework import serializers

from customers.enums import Exchange
from sync.models import SyncRun


class SyncRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncRun
        fields = [
            "id", "kind", "customer", "exchange", "trigger", "status", "started_at", "finished_at", "calls_made",
            "rows_created", "rows_updated", "rows_unchanged", "errors", "progress_done", "progress_total",
        ]


class SyncRequestSerializer(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=Exchange.choices, required=False, help_text="Only this exchange.")
