"""The admin site: django-unfold's look, a TOTP second factor where required."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import BaseModelAdmin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from unfold.sites import UnfoldAdminSite

from backoffice import staff_auth

BIGINT = 2**63


def _integer_target(model, param: str) -> bool:
    """Whether a changelist parameter (``customer``, ``id__in``, ``order__id__exact``...) compares
    an integer column: the model field its path ends on, or the primary key a relation points at."""
    parts = [part for part in param.split(LOOKUP_SEP) if part not in ("in", "exact", "gt", "gte", "lt", "lte")]
    if parts[:1] == ["pk"]:
        parts[0] = model._meta.pk.name
    try:
        fields = get_fields_from_path(model, LOOKUP_SEP.join(parts)) if parts else []
    except (FieldDoesNotExist, NotRelationField):
        return False
    if not fields:
        return False
    field = fields[-1]
    if field.is_relation and field.related_model is not None:
        field = field.target_field
    return isinstance(field, models.IntegerField | models.AutoField)


def refuse_out_of_range_ids(view, model):
    """A changelist view that answers 400 to an id no database integer can hold (SQLite raises
    OverflowError on 20-digit numbers; PostgreSQL would compare them, but they are never ids)."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        for param, values in request.GET.lists():
            if not _integer_target(model, param):
                continue
            for value in values:
                for part in value.split(","):
                    part = part.strip()
                    if part.lstrip("-").isdigit() and not -BIGINT <= int(part) < BIGINT:
                        return HttpResponseBadRequest(f"{param}: {part[:30]} is not an id.", content_type="text/plain")
        return view(request, *args, **kwargs)

    return checked


class BackofficeAdminSite(UnfoldAdminSite):
    site_header = "Parsec back-office"
    site_title = "Parsec back-office"
    index_title = "Operations"
    login_form = staff_auth.StaffLoginForm

    def admin_view(self, view, cacheable=False):
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, BaseModelAdmin) and getattr(view, "__name__", "") == "changelist_view":
            view = refuse_out_of_range_ids(view, model_admin.model)
        return super().admin_view(view, cacheable)

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.OTP_REQUIRED or request.user.is_verified()

    def each_context(self, request):
        context = super().each_context(request)
        user = request.user
        # The banner (templates/admin/base.html) stays until the member has an authenticator app.
        context["two_factor_missing"] = bool(
            user.is_authenticated and user.is_staff and not user.is_verified()
            and staff_auth.confirmed_device(user) is None)
        context["two_factor_required"] = settings.OTP_REQUIRED
        return context

    @method_decorator(never_cache)
    @method_decorator(login_not_required)
    def login(self, request, extra_context=None):
        if staff_auth.needs_enrolment(request.user):
            return redirect("admin:otp_enrol")
        return super().login(request, extra_context)

    def get_urls(self):
        return [
            path("security/two-factor/", self.otp_enrol_view, name="otp_enrol"),
            # Signing out works for every signed-in session, verified or not: Django's admin wraps
            # logout in its permission check and would send an unenrolled member back to the index.
            path("logout/", csrf_protect(self.logout), name="logout"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    def otp_enrol_view(self, request):
        """Enrol a TOTP device: scan the QR code, confirm one code. Needs a signed-in staff member."""
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if settings.OTP_REQUIRED and not user.is_verified() and staff_auth.confirmed_device(user) is not None:
            # Enrolled already: replacing the device needs this session to have passed the code.
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        device = staff_auth.pending_device(user)
        form = staff_auth.ConfirmDeviceForm(request.POST or None, device=device)
        if request.method == "POST" and form.is_valid():
            staff_auth.confirm_device(request=request, device=device)
            messages.success(request, "Two-factor sign-in is set up; you will be asked for a code at every sign-in.")
            return redirect("admin:index")
        context = {
            **self.each_context(request), "title": "Set up two-factor sign-in", "form": form,
            "qr_svg": staff_auth.qr_svg(device), "manual_key": staff_auth.manual_key(device),
            "enrolled": staff_auth.confirmed_device(user) is not None,
        }
        return TemplateResponse(request, "admin/otp_enrol.html", context)
