"""Signing staff in through the real login form, with or without the second factor."""

from __future__ import annotations

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct-horse-battery"  # the personas' password (tests/conftest.py)
LOGIN = "/admin/login/"
ENROL = "/admin/security/two-factor/"


def code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + offset):06d}"


def sign_in(client, username: str, password: str = PASSWORD, token: str | None = None, **extra):
    data = {"username": username, "password": password, "next": "/admin/"}
    if token is not None:
        data["otp_token"] = token
    return client.post(LOGIN, data, **extra)


def password_only_session(client, user) -> None:
    """``user`` signed in with the password alone while OTP_REQUIRED (no device enrolled yet):
    the session is authenticated but has not passed the second factor."""
    response = sign_in(client, user.get_username())
    assert response.status_code == 302, response.status_code
    assert client.session["_auth_user_id"] == str(user.pk)
    assert "otp_device_id" not in client.session
