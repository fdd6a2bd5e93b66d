"""Site-wide request rules that hold for every page and endpoint, whoever wrote the view."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import patch_cache_control

from api.errors import error_body
from core.staff import second_factor_pending

API_PREFIX = "/api/"
# All a session that has not passed the second factor may open.
OPEN_BEFORE_SECOND_FACTOR = frozenset({"admin:otp_enrol", "admin:logout", "admin:login", "admin:jsi18n"})


class SecondFactorMiddleware:
    """Where OTP_REQUIRED, a session signed in with the password alone reaches only enrolment and
    sign-out: pages send it to enrol (or back to the login for its code), the API answers 403
    ``second_factor_required``. One rule for the admin, the API, its docs and schema, exports and
    every custom page, so a new view cannot forget it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if second_factor_pending(request.user) and self._view_name(request) not in OPEN_BEFORE_SECOND_FACTOR:
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _view_name(request) -> str | None:
        try:
            return resolve(request.path_info).view_name
        except Resolver404:
            return None

    @staticmethod
    def _refuse(request):
        from backoffice.staff_auth import confirmed_device

        if request.path_info.startswith(API_PREFIX):
            response = JsonResponse(error_body(
                "second_factor_required",
                "This session has not passed the second factor: sign in at /admin/login/ with your authenticator code.",
            ), status=403)
            patch_cache_control(response, no_store=True)
            return response
        if confirmed_device(request.user) is None:
            return redirect("admin:otp_enrol")
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))


class ApiNoStoreMiddleware:
    """API answers carry data a shared cache or the browser's must not keep: ``no-store``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(API_PREFIX):
            patch_cache_control(response, no_store=True)
        return response
