"""Staff sign-in: password, then a TOTP code where OTP_REQUIRED, and self-service enrolment.

A staff member who has not enrolled yet signs in with the password alone, reaches only the
enrolment page (``BackofficeAdminSite.has_permission`` wants a verified session), scans the QR
code and confirms a code; from then on the code is required at every sign-in.
"""

from __future__ import annotations

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils.safestring import mark_safe
from django_otp import login as otp_login
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.widgets import BASE_INPUT_CLASSES


class UsernameNotInPasswordValidator:
    """A password never contains the username (case-insensitive)."""

    def validate(self, password, user=None):
        username = (user.get_username() if user is not None else "") or ""
        if len(username) >= 3 and username.lower() in (password or "").lower():
            raise ValidationError("The password must not contain the username.", code="password_contains_username")

    def get_help_text(self) -> str:
        return "Your password must not contain your username."


def client_ip(request) -> str | None:
    """The client's address for the lockout: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the
    entry that many places from the right of X-Forwarded-For (each proxy appends the address it saw,
    so the entries to the left of it are whatever the client chose to send)."""
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-count] if len(forwarded) >= count else remote


def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """axes' user_locked_out: every refused attempt of a locked account or address is on record."""
    from audit.services import record_action

    record_action(actor=None, action="staff.locked_out", outcome="rejected",
                  reason="Sign-in refused: too many failed attempts for this account or address.",
                  request={"username": str(username or "")[:150], "ip_address": ip_address or ""})


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def needs_enrolment(user) -> bool:
    """A signed-in staff member who must enrol a device before entering the admin."""
    return (
        settings.OTP_REQUIRED and user.is_authenticated and user.is_active and user.is_staff
        and not user.is_verified() and confirmed_device(user) is None
    )


# Unfold's input look (border, background, text colour): Django's bare inputs are borderless and
# transparent under Unfold's stylesheet, invisible until focused.
INPUT_CLASSES = " ".join(BASE_INPUT_CLASSES)


def token_field() -> forms.CharField:
    return forms.CharField(
        label="Authenticator code", max_length=8, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "class": INPUT_CLASSES}),
        help_text="The 6-digit code your authenticator app shows for the Parsec back-office.",
    )


class StaffLoginForm(OTPAuthenticationFormMixin, AuthenticationForm):
    """The admin's login form: password, plus the TOTP code when OTP_REQUIRED."""

    otp_token = token_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("username", "password"):
            self.fields[name].widget.attrs["class"] = INPUT_CLASSES
        self.fields["username"].widget.attrs["autofocus"] = ""
        if not settings.OTP_REQUIRED:
            del self.fields["otp_token"]

    def clean(self):
        cleaned = super().clean()  # the password (axes counts failures here)
        user = self.get_user()
        if settings.OTP_REQUIRED and user is not None and confirmed_device(user) is not None:
            try:
                self.clean_otp(user)
            except forms.ValidationError:
                # A wrong code counts as a failed login, so guessing codes locks out too.
                user_login_failed.send(sender=__name__, credentials={"username": cleaned.get("username")},
                                       request=self.request)
                raise
        return cleaned

    def _chosen_device(self, user):
        # One device per staff member (enrolment keeps the newest confirmed one); the form has
        # no device picker.
        return TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("-pk").first()


class ConfirmDeviceForm(forms.Form):
    otp_token = token_field()

    def __init__(self, *args, device: TOTPDevice, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["otp_token"].required = True

    def clean_otp_token(self):
        token = self.cleaned_data["otp_token"].strip()
        allowed, _ = self.device.verify_is_allowed()
        if not allowed:  # django-otp's throttle: the wait doubles after each wrong code
            raise forms.ValidationError("Too many wrong codes in a row; wait a few seconds and try the current code.")
        if not token.isdigit() or not self.device.verify_token(token):
            raise forms.ValidationError("That code does not match. Check the phone's clock and try the current code.")
        return token


def pending_device(user) -> TOTPDevice:
    """The unconfirmed device being enrolled (one at a time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    # Generated by qrcode from our own data (the otpauth URL is encoded as path data, not text).
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def manual_key(device: TOTPDevice) -> str:
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


def confirm_device(*, request, device: TOTPDevice) -> None:
    """Make ``device`` the staff member's only device and mark this session verified."""
    from audit.services import record_action

    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    record_action(actor=request.user, action="staff.otp_enrol", outcome="ok",
                  request={"device": device.persistent_id}, reason="TOTP device enrolled by its owner")
