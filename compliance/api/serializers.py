from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent
from compliance.models import Alert, Review


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq", "at", "actor", "actor_name", "action", "customer", "customer_ref", "reason", "request", "outcome",
            "response", "prev_hash", "hash",
        ]


class ReviewOutSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.get_username", read_only=True)
    closed_by = serializers.CharField(source="closed_by.get_username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Review
        fields = ["disposition", "note", "reviewer", "reviewed_at", "closed_by", "closed_at"]


class AlertSerializer(serializers.ModelSerializer):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    assigned_to = serializers.CharField(source="assigned_to.get_username", read_only=True, allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True, allow_null=True, default=None,
                                         help_text="The staff member who asked for the order(s) behind the alert.")
    approved_by = serializers.CharField(source="approved_by.get_username", read_only=True, allow_null=True, default=None,
                                        help_text="The second operator who approved them (four eyes), if any.")
    review = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id", "rule", "severity", "status", "customer", "customer_external_id", "title", "detail", "evidence", "figures",
            "raised_at", "assigned_to", "assigned_at", "requested_by", "approved_by", "review",
        ]

    @extend_schema_field(ReviewOutSerializer(allow_null=True))
    def get_review(self, alert: Alert) -> dict | None:
        review = getattr(alert, "review", None) if hasattr(alert, "review") else None
        return ReviewOutSerializer(review).data if review is not None else None


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(required=False, help_text="A Compliance reviewer's username; default: the caller.")


class ReviewInSerializer(serializers.Serializer):
    disposition = serializers.ChoiceField(choices=Review.Disposition.choices)
    note = serializers.CharField(help_text="What was checked and why this disposition.")
