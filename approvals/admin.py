"""Four-eyes requests in the admin: the list, and the page where a second operator decides."""

from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import path
from unfold.admin import ModelAdmin
from unfold.decorators import display

from approvals import services
from approvals.forms import DecisionForm
from approvals.models import ApprovalRequest
from core.admin import ReadOnlyAdminMixin, admin_page, require_permission
from core.errors import DomainError


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("id", "action", "what", "customer", "status", "requested_by", "requested_at", "expires_at",
                    "decided_by")
    list_filter = ("status", "action")
    list_select_related = ("customer", "requested_by", "decided_by")
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("order_intents__market")

    @display(description="What")
    def what(self, obj: ApprovalRequest) -> str:
        return render_to_string("approvals/_what.html", {"approval": obj})

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/decide/", view(self.decide_view), name="approvals_approvalrequest_decide"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:approvals_approvalrequest_decide", pk=object_id)

    def decide_view(self, request, pk):
        require_permission(request, "approvals.view_approvalrequest")
        approval = get_object_or_404(ApprovalRequest.objects.select_related("customer", "requested_by", "decided_by"), pk=pk)
        form = DecisionForm(request.POST or None)
        if request.method == "POST":
            require_permission(request, "approvals.approve_request")
            if form.is_valid():
                try:
                    if form.cleaned_data["decision"] == "approve":
                        approval = services.approve(request=approval, actor=request.user, note=form.cleaned_data["note"])
                        result = approval.result or {}
                        level = messages.SUCCESS if result.get("ok", True) else messages.WARNING
                        messages.add_message(request, level, result.get("message") or result.get("error") or "Approved.")
                    else:
                        services.reject(request=approval, actor=request.user, note=form.cleaned_data["note"])
                        messages.info(request, "Rejected; nothing was sent.")
                except DomainError as exc:
                    messages.error(request, exc.message)
                return redirect("admin:approvals_approvalrequest_decide", pk=approval.pk)
        action = services.action_for(approval)
        details = action.details(approval) if action and action.details else {}
        return admin_page(self, request, "approvals/decide.html", {
            "approval": approval, "form": form, "details": details,
            "details_template": action.details_template if action else "",
            "can_decide": (approval.status == ApprovalRequest.Status.PENDING and not approval.is_expired
                           and approval.requested_by_id != request.user.pk
                           and request.user.has_perm("approvals.approve_request")),
        }, title=f"Approval request #{approval.pk}")
