"""Who is calling: a service account's token, or a staff member's session (with CSRF)."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from api.tokens import find_token
from core.staff import second_factor_pending


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer pbo_…`` (or ``Token pbo_…``): acts as the token's service account."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            plain = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        token = find_token(plain)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, expired or revoked.")
        user = token.service_user
        # The audit log names an actor by its ``identity`` when it has one: every write a token
        # makes is recorded as the token, while the services still get a user for their FKs.
        user.identity = token.identity
        return user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 to an anonymous call.
        return 'Bearer realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in staff member's session that has passed the second factor where OTP_REQUIRED
    (the site-wide gate refuses it first; this holds even without the gate). DRF enforces CSRF
    on unsafe methods."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        if not user.is_staff or second_factor_pending(user):
            return None
        return result


def actor_identity(request) -> str:
    """The audit identity of the caller: the token's identity or the staff username."""
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "identity"):
        return token.identity
    return request.user.get_username()
