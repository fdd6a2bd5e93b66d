"""Admin pages for end-user management: create, onboard, qps_limit, deactivate (four eyes).

Thin: each view parses a ``customers.forms`` form, calls ``customers.services`` and
renders the result; each needs ``customers.manage_enduser`` (Compliance gets 403). Posted
credentials are marked sensitive so Django's error reports never show them.
"""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from unfold.decorators import display

from core.admin import admin_page, require_permission
from customers import services
from customers.forms import CreateEndUserForm, DeactivateForm, OnboardForm, QpsLimitForm
from customers.models import Customer

PERMISSION = "customers.manage_enduser"


def _refusal(form, exc: services.EndUserError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class EndUserAdminMixin:
    """Mixed into CustomerAdmin: the pages and the detail buttons that open them, and the list's
    "frozen" badge for a customer whose own kill switch is engaged (a builder-wide one is the
    red banner on every page)."""

    def get_queryset(self, request):
        # The kill switch lives in orders (above this app): reached through the relation's model.
        switches = self.model._meta.get_field("kill_switches").related_model
        engaged = switches.objects.filter(customer=OuterRef("pk"), scope="customer", released_at__isnull=True)
        return super().get_queryset(request).annotate(frozen=Exists(engaged))

    def get_list_display(self, request):
        return (*super().get_list_display(request), "trading_state")

    @display(description="Trading", label={"frozen": "danger"})
    def trading_state(self, obj) -> str:
        return "frozen" if getattr(obj, "frozen", False) else ""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("new-end-user/", view(self.create_end_user_view), name="customers_customer_new_end_user"),
            path("<int:object_id>/onboard/", view(self.onboard_view), name="customers_customer_onboard"),
            path("<int:object_id>/qps-limit/", view(self.qps_limit_view), name="customers_customer_qps_limit"),
            path("<int:object_id>/qps-limit/preview/", view(self.qps_preview_view), name="customers_customer_qps_preview"),
            path("<int:object_id>/deactivate/", view(self.deactivate_view), name="customers_customer_deactivate"),
            *super().get_urls(),
        ]

    def has_manage_enduser_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(PERMISSION)

    def _page(self, request, template: str, context: dict, *, title: str):
        return admin_page(self, request, template, context, title=title, opts=Customer._meta)

    def create_end_user_view(self, request):
        require_permission(request, PERMISSION)
        form = CreateEndUserForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                customer = services.create_end_user(actor=request.user, **form.cleaned_data)
            except services.EndUserError as exc:
                _refusal(form, exc)
            else:
                messages.success(request, f"End-user {customer.external_id} created at Parsec.")
                return redirect("admin:customers_customer_change", customer.pk)
        return self._page(request, "customers/enduser_form.html", {"form": form, "submit": "Create end-user"},
                          title="Create an end-user")

    @method_decorator(sensitive_post_parameters(*OnboardForm.CREDENTIAL_FIELDS))
    def onboard_view(self, request, object_id):
        require_permission(request, PERMISSION)
        customer = get_object_or_404(Customer, pk=object_id)
        form = OnboardForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = services.onboard_end_user(
                    actor=request.user, customer=customer, exchange=form.cleaned_data["exchange"],
                    mode=form.cleaned_data["mode"], credentials=form.credentials(),
                )
            except services.EndUserError as exc:
                _refusal(form, exc)
            else:
                messages.success(request, f"{customer} onboarded to {result.exchange} ({result.mode}): {result.status}.")
                return redirect("admin:customers_customer_change", customer.pk)
        return self._page(request, "customers/enduser_form.html", {
            "form": form, "customer": customer, "submit": "Onboard",
            "note": "Credentials are passed to Parsec once and never kept by the back-office.",
        }, title=f"Onboard {customer} to an exchange")

    def qps_limit_view(self, request, object_id):
        require_permission(request, PERMISSION)
        customer = get_object_or_404(Customer, pk=object_id)
        form = QpsLimitForm(request.POST or None, initial={"qps_limit": customer.qps_limit})
        if request.method == "POST" and form.is_valid():
            try:
                change = services.update_qps_limit(actor=request.user, customer=customer,
                                                   qps_limit=form.cleaned_data["qps_limit"], reason=form.cleaned_data["reason"])
            except services.EndUserError as exc:
                _refusal(form, exc)
            else:
                messages.success(request, (
                    f"qps_limit of {change.customer.external_id}: {change.old_limit or 'Parsec default'} → {change.new_limit}. "
                    f"Builder pool allocated before {change.before.total_allocated_qps}, after "
                    f"{change.after.total_allocated_qps} of {change.after.qps_pool} QPS."))
                return redirect("admin:customers_customer_qps_limit", customer.pk)
        pool, pool_error = self._pool()
        value = form.data.get("qps_limit") if form.is_bound else customer.qps_limit
        return self._page(request, "customers/enduser_qps.html", {
            "form": form, "customer": customer, "pool_error": pool_error, "submit": "Change qps_limit",
            "preview": self._preview(customer, value, pool),
        }, title=f"qps_limit of {customer}")

    def qps_preview_view(self, request, object_id):
        """htmx: the pool before and after the qps_limit being typed (nothing is changed)."""
        require_permission(request, PERMISSION)
        customer = get_object_or_404(Customer, pk=object_id)
        pool, pool_error = self._pool()
        return TemplateResponse(request, "customers/_qps_preview.html", {
            "customer": customer, "pool_error": pool_error,
            "preview": self._preview(customer, request.GET.get("qps_limit"), pool),
        })

    @staticmethod
    def _pool():
        try:
            return services.pool_status(), ""
        except Exception as exc:  # the page still works without the pool figure
            return None, f"The builder pool could not be read: {services._parsec_message(exc)}"

    @staticmethod
    def _preview(customer, value, pool):
        text = str(value if value is not None else "").strip()
        if pool is None or not text.isdigit() or len(text) > 7 or int(text) < 1:
            return None
        return services.qps_allocation(customer=customer, qps_limit=int(text), pool=pool)

    def deactivate_view(self, request, object_id):
        require_permission(request, PERMISSION)
        customer = get_object_or_404(Customer, pk=object_id)
        form = DeactivateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                approval = services.request_deactivation(actor=request.user, customer=customer, **form.cleaned_data)
            except services.EndUserError as exc:
                _refusal(form, exc)
            else:
                messages.success(request, "Deactivation requested: a second Operations user must approve it "
                                          "before it reaches Parsec.")
                return redirect("admin:approvals_approvalrequest_decide", pk=approval.pk)
        return self._page(request, "customers/enduser_form.html", {
            "form": form, "customer": customer, "submit": "Request deactivation", "danger": True,
            "note": (f"Deactivating {customer.external_id} is irreversible: Parsec revokes the user's API key and "
                     "it cannot trade again. A second Operations user must approve."),
        }, title=f"Deactivate {customer}")
