"""Alerts and reviews in the admin: the review workflow page, the exports and the statement.

Thin: forms validate, ``compliance.services`` / ``compliance.exports`` do the work. Compliance
reviewers hold ``compliance.review_alert`` and ``compliance.export_activity``; everyone else
can at most read. The audit log's own admin lives with the log (``audit/admin.py``).
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.decorators import display

from compliance import exports, services
from compliance.models import Alert, Review
from core.admin import CappedCountPaginator, ReadOnlyAdminMixin, admin_page, require_permission, status_badge
from customers.admin import customer_link
from customers.filters import customer_match
from customers.models import Customer

EVIDENCE_LINKS = {
    "order": ("admin:orders_order_change", "id"), "fill": ("admin:orders_fill_change", "id"),
    "position": ("admin:orders_position_change", "id"), "market": ("admin:orders_market_change", "id"),
    "intent": ("admin:orders_orderintent_detail", "id"), "customer": ("customer_360", "id"),
    "settlement": ("admin:orders_settlement_change", "id"),
}


def evidence_link(item: dict) -> str:
    name, key = EVIDENCE_LINKS.get(item.get("type"), (None, None))
    if not name or item.get(key) in (None, ""):
        return ""
    try:
        return reverse(name, args=[item[key]])
    except NoReverseMatch:
        return ""


class ReviewForm(forms.Form):
    disposition = forms.ChoiceField(choices=Review.Disposition.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What you checked and why you decided so.")


class ExportForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why you export this (kept on record).")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end"):
            if data["end"] < data["start"]:
                raise forms.ValidationError("The end date is before the start date.")
            if (data["end"] - data["start"]).days > 366:
                raise forms.ValidationError("Export at most one year at a time.")
        return data


class StatementForm(forms.Form):
    month = forms.RegexField(regex=r"^\d{4}-(0[1-9]|1[0-2])$", error_messages={"invalid": "Give the month as YYYY-MM."},
                             widget=forms.TextInput(attrs={"type": "month"}))
    format = forms.ChoiceField(choices=[("html", "Printable page"), ("pdf", "PDF"), ("csv", "CSV")], initial="html")

    def month_date(self) -> date:
        year, month = self.cleaned_data["month"].split("-")
        return date(int(year), int(month), 1)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("raised_at", "severity_display", "rule", "title", "customer_display", "status_badge", "assigned_to")
    list_display_links = ("raised_at",)
    list_filter = ("status", "rule", "severity", ("customer", AutocompleteSelectFilter))
    list_filter_submit = True
    status_badge = status_badge()
    list_select_related = ("customer", "assigned_to")
    search_fields = ("title",)
    search_help_text = "A customer (id, Parsec customer id or external id), or words of the title"
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = None

    @display(description="Severity", label={"high": "danger", "medium": "warning", "low": "info"})
    def severity_display(self, obj: Alert) -> str:
        return obj.severity

    @display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj: Alert) -> str:
        return customer_link(obj.customer_id, obj.customer.external_id)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # A customer reference wins: our ids are short numbers that many titles contain.
        customers = list(Customer.objects.filter(customer_match(term)).values_list("pk", flat=True)[:10])
        if customers:
            return queryset.filter(customer__in=customers), False
        return queryset.filter(title__icontains=term), False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/<int:customer_id>/", view(self.export_view), name="compliance_alert_export"),
            path("statement/<int:customer_id>/", view(self.statement_view), name="compliance_alert_statement"),
            *super().get_urls(),
        ]

    def _page(self, request, template: str, context: dict, *, title: str):
        return admin_page(self, request, template, context, title=title)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = get_object_or_404(Alert.objects.select_related("customer", "assigned_to", "requested_by", "approved_by"), pk=object_id)
        require_permission(request, "compliance.view_alert")
        form = ReviewForm()
        if request.method == "POST":
            require_permission(request, "compliance.review_alert")
            step = request.POST.get("step")
            try:
                if step == "assign":
                    services.assign_alert(alert=alert, actor=request.user)
                    messages.success(request, "The alert is yours to review.")
                elif step == "review":
                    form = ReviewForm(request.POST)
                    if not form.is_valid():
                        raise services.ReviewError("Give a disposition and a note.", code="invalid")
                    services.review_alert(alert=alert, actor=request.user, **form.cleaned_data)
                    messages.success(request, "Review recorded. Close the alert when you are done.")
                elif step == "close":
                    services.close_alert(alert=alert, actor=request.user)
                    messages.success(request, "Alert closed; its review can no longer change.")
                else:
                    messages.error(request, "Unknown step.")
            except services.ReviewError as exc:
                if exc.field and exc.field in form.fields:
                    form.add_error(exc.field, exc.message)
                messages.error(request, exc.message)
            else:
                return redirect("admin:compliance_alert_change", alert.pk)
        review = Review.objects.filter(alert=alert).select_related("reviewer", "closed_by").first()
        evidence = [{**item, "link": evidence_link(item)} for item in alert.evidence]
        return self._page(request, "compliance/alert_detail.html", {
            "alert": alert, "review": review, "form": form, "evidence": evidence,
            "can_review": request.user.has_perm("compliance.review_alert"),
            "can_export": request.user.has_perm("compliance.export_activity"),
        }, title=f"Alert {alert.pk}: {alert.get_rule_display()}")

    def export_view(self, request, customer_id: int):
        require_permission(request, "compliance.export_activity")
        customer = get_object_or_404(Customer, pk=customer_id)
        today = timezone.now().date()
        form = ExportForm(request.POST or None, initial={"start": today.replace(day=1), "end": today})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            lines = exports.export_activity(actor=request.user, customer=customer, start=data["start"], end=data["end"],
                                            reason=data["reason"])
            response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (f'attachment; filename="activity-{customer.pk}-{data["start"]:%Y%m%d}-'
                                               f'{data["end"]:%Y%m%d}.csv"')
            return response
        return self._page(request, "compliance/export.html", {
            "customer": customer, "form": form,
            "statement_form": StatementForm(initial={"month": today.strftime("%Y-%m")}),
        }, title=f"Export the activity of {customer}")

    def statement_view(self, request, customer_id: int):
        require_permission(request, "compliance.export_activity")
        customer = get_object_or_404(Customer, pk=customer_id)
        form = StatementForm(request.GET)
        if not form.is_valid():
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            return redirect("admin:compliance_alert_export", customer.pk)
        month = form.month_date()
        statement = exports.monthly_statement(customer=customer, month=month)
        services.record_action(actor=request.user, action="export.statement", customer=customer,
                               request={"month": month.strftime("%Y-%m"), "format": form.cleaned_data["format"]},
                               outcome="ok")
        if form.cleaned_data["format"] == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{statement.file_stem}.csv"'
            for line in exports.csv_lines(exports.statement_csv_rows(statement)):
                response.write(line)
            return response
        if form.cleaned_data["format"] == "pdf":
            response = HttpResponse(exports.statement_pdf(statement), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{statement.file_stem}.pdf"'
            return response
        return self._page(request, "compliance/statement.html", {"statement": statement, "customer": customer},
                          title=f"Statement {month:%B %Y} · {customer}")


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("reviewed_at", "alert", "disposition", "reviewer", "closed_at")
    list_filter = ("disposition",)
    list_select_related = ("alert", "reviewer")
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ("alert", "reviewer", "disposition", "note", "reviewed_at", "closed_by", "closed_at")
    actions = None
