"""Exactly-once writes by ``Idempotency-Key``, as payment APIs do.

The claim is a row committed in its own short transaction *before* the work, so:
- the same key and body after completion replays the stored response (``Idempotent-Replayed: true``);
- the same key with another body (or another endpoint) is refused with 422;
- a second request while the first is in flight gets 409;
- a request that crashed leaves its claim in flight; once the lease has passed, a retry with
  the same key and body takes it over and resumes from what the first attempt recorded in
  ``resource`` (an order intent already written is sent at most once by ``orders.services``).
No network call happens inside any of these transactions.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import ApiError, exception_handler
from api.models import IdempotencyRecord

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def principal_of(request) -> str:
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "prefix"):
        return f"token:{token.pk}"
    return f"user:{request.user.pk}"


def request_fingerprint(request) -> str:
    """A keyed hash (HMAC-SHA256 under SECRET_KEY) of the request: the body itself is never kept,
    and a body carrying exchange credentials (self-mode onboarding) cannot be guessed back from it."""
    payload = json.dumps(
        {"method": request.method, "path": request.path, "body": request.data}, sort_keys=True, default=str,
        separators=(",", ":"),
    )
    return hmac.new(settings.SECRET_KEY.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _lease():
    return timezone.now() + timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS)


def claim(*, principal: str, key: str, method: str, path: str, request_hash: str) -> tuple[IdempotencyRecord, bool]:
    """Claim ``key`` for this request. Returns (record, replay): replay=True means answer from the record.

    Raises ApiError 409 while another request holds the key, 422 when the key was used for
    another request.
    """
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    fields = {"method": method, "path": path[:500], "request_hash": request_hash, "locked_until": _lease(), "expires_at": expires_at}
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(principal=principal, key=key, **fields), False
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
        if record is None:
            continue  # pruned in between: try to create again
        if record.expires_at <= now:
            # An expired key may be used afresh; delete only that exact stale row.
            IdempotencyRecord.objects.filter(pk=record.pk, expires_at=record.expires_at).delete()
            continue
        if record.request_hash != request_hash:
            raise ApiError(
                status_code=422, code="idempotency_key_reused",
                message="This Idempotency-Key was already used with a different request; use a new key.",
            )
        if record.status == IdempotencyRecord.Status.COMPLETED:
            return record, True
        if record.locked_until > now:
            raise ApiError(
                status_code=409, code="idempotency_in_flight",
                message="A request with this Idempotency-Key is still being processed; retry later.",
                headers={"Retry-After": str(max(1, int((record.locked_until - now).total_seconds())))},
            )
        # The first attempt died mid-way: take over its claim, unless someone else just did.
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, status=IdempotencyRecord.Status.IN_FLIGHT, locked_until=record.locked_until,
        ).update(locked_until=fields["locked_until"], attempts=record.attempts + 1)
        if not taken:
            raise ApiError(
                status_code=409, code="idempotency_in_flight",
                message="A request with this Idempotency-Key is still being processed; retry later.",
                headers={"Retry-After": "1"},
            )
        record.refresh_from_db()
        return record, False
    raise ApiError(status_code=409, code="idempotency_in_flight", message="The Idempotency-Key is busy; retry later.")


def remember(record: IdempotencyRecord, **resource) -> None:
    """Record (committed at once) what the work created, so a resumed retry finds it."""
    record.resource = {**record.resource, **resource}
    IdempotencyRecord.objects.filter(pk=record.pk).update(resource=record.resource)


def complete(record: IdempotencyRecord, *, status: int, body) -> None:
    # Stored exactly as the client received it (Decimals and datetimes already as strings).
    stored = json.loads(JSONRenderer().render(body)) if body is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.COMPLETED, response_status=status, response_body=stored, completed_at=timezone.now(),
    )


def release(record: IdempotencyRecord) -> None:
    """The work failed unexpectedly: let a retry with the same key run (and resume) at once."""
    IdempotencyRecord.objects.filter(pk=record.pk, status=IdempotencyRecord.Status.IN_FLIGHT).update(locked_until=timezone.now())


def prune(*, now=None) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def idempotent(view_method):
    """Wrap a DRF write action: require the key, claim it, run once, store and replay the answer."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "")
        if not key:
            raise ApiError(
                status_code=400, code="idempotency_key_required",
                message=f"Every write needs an {HEADER} header (a unique string per intended action, e.g. a UUID).",
                fields={HEADER: ["This header is required."]},
            )
        if not _KEY_RE.match(key):
            raise ApiError(
                status_code=400, code="idempotency_key_invalid",
                message=f"The {HEADER} must be 1–255 printable ASCII characters without spaces.",
                fields={HEADER: ["Not a valid key."]},
            )
        record, replay = claim(
            principal=principal_of(request), key=key, method=request.method, path=request.path,
            request_hash=request_fingerprint(request),
        )
        if replay:
            return Response(record.response_body, status=record.response_status, headers={REPLAY_HEADER: "true"})
        request.idempotency_record = record
        try:
            response = view_method(self, request, *args, **kwargs)
        except exceptions.APIException as exc:
            response = exception_handler(exc, {"view": self, "request": request})
        except Exception as exc:
            translated = exception_handler(exc, {"view": self, "request": request})
            if translated is None or translated.status_code >= 500:
                release(record)
                raise
            response = translated
        if response.status_code >= 500:
            release(record)
        else:
            complete(record, status=response.status_code, body=response.data)
        return response

    wrapper.idempotent = True
    return wrapper
