"""Issuing, checking and revoking service-account tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken

TOKEN_PREFIX = "pbo_"
# last_used_at is written at most this often per token, so reads stay writes-free.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, name: str, role: str, created_by=None, expires_at=None, throttle_rate: str = "") -> tuple[ApiToken, str]:
    """Create a token and its service account; the plain token is returned once and never stored."""
    if role not in ApiToken.Role.values:
        raise ValueError(f"unknown role {role!r}")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    prefix = secrets.token_hex(4)
    plain = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=f"api-{prefix}", is_staff=False, is_active=True)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        token = ApiToken.objects.create(
            name=name, role=role, prefix=prefix, token_hash=hash_token(plain), service_user=user,
            created_by=created_by, expires_at=expires_at, throttle_rate=throttle_rate,
        )
    return token, plain


def revoke_token(*, token: ApiToken, revoked_by=None) -> None:
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=revoked_by)
        # The service account goes too, so nothing can act as it any more.
        get_user_model().objects.filter(pk=token.service_user_id).update(is_active=False)
    token.refresh_from_db()


def find_token(plain: str) -> ApiToken | None:
    """The usable token matching ``plain``, or None. Compares hashes in constant time."""
    if not plain.startswith(TOKEN_PREFIX):
        return None
    prefix, _, _secret = plain[len(TOKEN_PREFIX):].partition("_")
    if not prefix or not _secret:
        return None
    token = ApiToken.objects.select_related("service_user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, hash_token(plain)):
        return None
    if not token.is_usable or not token.service_user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
