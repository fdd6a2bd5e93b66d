"""The admin site: django-unfold's look, a TOTP second factor where required."""

from django.conf import settings
from django_otp.forms import OTPAuthenticationForm
from unfold.sites import UnfoldAdminSite


class BackofficeAdminSite(UnfoldAdminSite):
    site_header = "Parsec back-office"
    site_title = "Parsec back-office"
    index_title = "Operations"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        if settings.OTP_REQUIRED:
            self.login_form = OTPAuthenticationForm

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.OTP_REQUIRED or request.user.is_verified()
