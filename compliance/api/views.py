"""The audit log, read-only (it is append-only everywhere), and surveillance alerts with their
review workflow (assign → review → close), through the same services as the admin's pages."""

from __future__ import annotations

import django_filters as filters
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from api.errors import ApiError
from api.idempotency import idempotent
from api.viewsets import MirrorReadViewSet, validated
from audit.models import AuditEvent
from compliance import services
from compliance.api import serializers
from compliance.models import Alert, Review
from customers.filters import CustomerRefFilter


class AuditEventFilterSet(filters.FilterSet):
    """The admin's audit filters (action, outcome, time) plus who and which customer."""

    action = filters.CharFilter(help_text="Exact action, e.g. order.place; end with * for a prefix (order.*).", method="filter_action")
    outcome = filters.MultipleChoiceFilter(choices=AuditEvent.Outcome.choices)
    actor = filters.CharFilter(field_name="actor_name", help_text="Username or API token identity.")
    customer = CustomerRefFilter(field_name="customer")
    at = filters.IsoDateTimeFromToRangeFilter(field_name="at")

    class Meta:
        model = AuditEvent
        fields: list[str] = []

    def filter_action(self, qs, name, value):
        if value.endswith("*"):
            return qs.filter(action__startswith=value[:-1])
        return qs.filter(action=value)


class AuditEventViewSet(MirrorReadViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = serializers.AuditEventSerializer
    filterset_class = AuditEventFilterSet
    lookup_field = "seq"
    ordering_fields = ["seq"]
    ordering = ["-seq"]


class AlertFilterSet(filters.FilterSet):
    """The review queue's filters: state, rule, severity, customer, assignee, when raised."""

    status = filters.MultipleChoiceFilter(choices=Alert.Status.choices)
    rule = filters.MultipleChoiceFilter(choices=Alert.Rule.choices)
    severity = filters.MultipleChoiceFilter(choices=Alert.Severity.choices)
    customer = CustomerRefFilter(field_name="customer")
    assigned_to = filters.CharFilter(field_name="assigned_to__username", help_text="A reviewer's username.")
    raised_at = filters.IsoDateTimeFromToRangeFilter(field_name="raised_at")

    class Meta:
        model = Alert
        fields: list[str] = []


class AlertViewSet(MirrorReadViewSet):
    queryset = Alert.objects.select_related("customer", "assigned_to", "requested_by", "approved_by").prefetch_related(
        Prefetch("review", queryset=Review.objects.select_related("reviewer", "closed_by")),
    )
    serializer_class = serializers.AlertSerializer
    filterset_class = AlertFilterSet
    ordering_fields = ["raised_at"]
    ordering = ["-raised_at"]
    required_permissions = {"assign": services.REVIEW_PERMISSION, "review": services.REVIEW_PERMISSION,
                            "close": services.REVIEW_PERMISSION}

    def _done(self, alert: Alert) -> Response:
        return Response(serializers.AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(operation_id="alerts_assign", tags=["alerts"], request=serializers.AssignSerializer,
                   summary="Take an alert (or hand it to another reviewer)", responses={200: serializers.AlertSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def assign(self, request, pk=None):
        alert = get_object_or_404(Alert, pk=pk)
        data = validated(serializers.AssignSerializer, request)
        assignee = None
        if data.get("assignee"):
            assignee = get_user_model().objects.filter(username=data["assignee"], is_active=True).first()
            if assignee is None:
                raise ApiError(status_code=422, code="unknown_user", message=f"No active user {data['assignee']!r}.",
                               fields={"assignee": ["No such active user."]})
        return self._done(services.assign_alert(alert=alert, actor=request.user, assignee=assignee))

    @extend_schema(operation_id="alerts_review", tags=["alerts"], request=serializers.ReviewInSerializer,
                   summary="Record the assigned reviewer's disposition and note", responses={200: serializers.AlertSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def review(self, request, pk=None):
        alert = get_object_or_404(Alert, pk=pk)
        data = validated(serializers.ReviewInSerializer, request)
        services.review_alert(alert=alert, actor=request.user, disposition=data["disposition"], note=data["note"])
        return self._done(alert)

    @extend_schema(operation_id="alerts_close", tags=["alerts"], request=None,
                   summary="Close a reviewed alert (its review can never change after)", responses={200: serializers.AlertSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def close(self, request, pk=None):
        alert = get_object_or_404(Alert, pk=pk)
        return self._done(services.close_alert(alert=alert, actor=request.user))
