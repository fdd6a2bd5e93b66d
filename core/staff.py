"""The one rule of the second factor, shared by every face (admin, API sessions, pages)."""

from __future__ import annotations

from django.conf import settings


def second_factor_pending(user) -> bool:
    """A signed-in session that has not passed the TOTP code while OTP_REQUIRED: it may enrol a
    device or sign out, nothing else. (``is_verified`` is set on the user by django-otp's
    middleware; a user it has not seen counts as not verified.)"""
    if not (settings.OTP_REQUIRED and user is not None and user.is_authenticated):
        return False
    is_verified = getattr(user, "is_verified", None)
    return not (callable(is_verified) and is_verified())
