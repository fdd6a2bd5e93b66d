"""The audit log's only writer.

``record_action`` appends one row to the keyed hash chain (``audit.chain``). Call it *after* the work, outside any
transaction, so the row survives whatever the work did; inside a caller's transaction the row
is written in a savepoint and commits (or rolls back) with that transaction, which is right only
when the row describes that same transaction's writes. To record an action even when the work
raises, wrap the work in ``audited(...)``: it refuses to start inside a transaction and writes
the row, in its own transaction, once the block has finished, however it finished.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.chain import (  # noqa: F401 (the chain's public names)
    ROTATED_ACTION,
    ChainBreak,
    ChainKeyUnavailable,
    canonical_content,
    compute_hash,
    key_id,
    key_of,
    known_keys,
    remember,
    verify_chain,
    writing_key,
)
from audit.models import AuditEvent
from core.db import assert_no_transaction, in_caller_transaction

logger = logging.getLogger(__name__)

OUTCOMES = frozenset(AuditEvent.Outcome.values)
REDACTED = "[redacted]"
SYSTEM_ACTOR = "system"

# Keys whose values never reach the audit log, compared case-insensitively with "-" as "_".
SECRET_KEYS = frozenset({
    "api_key", "apikey", "x_api_key", "private_key", "privatekey", "credentials", "credential",
    "clob_api_key", "clob_api_secret", "clob_api_passphrase", "clob_secret", "clob_passphrase",
    "passphrase", "signature", "signatures", "password", "secret", "token", "access_token",
    "refresh_token", "auth_token", "authorization", "mnemonic", "seed_phrase",
})
# ... and keys ending like these (``token_id`` and ``signature_type`` are kept: they are not secrets).
SECRET_SUFFIXES = ("_secret", "_passphrase", "_password", "_private_key", "_api_key", "_signature", "_credentials")

# PostgreSQL: one advisory lock key serializes appends (two writers never fork the chain).
_CHAIN_LOCK_KEY = 0x5A_0A_D1_7C


class AuditError(RuntimeError):
    """The audit log was asked for something it will not do."""


# --- Sanitising -----------------------------------------------------------------------------


def is_secret_key(key: Any) -> bool:
    name = str(key).strip().lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES)


def sanitise(value: Any) -> Any:
    """A JSON-safe copy of ``value`` with every secret-looking key's value replaced."""
    plain = json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))
    return _redact(plain)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): (REDACTED if is_secret_key(k) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


# --- Writing --------------------------------------------------------------------------------


def _actor_fields(actor) -> tuple[Any, str]:
    """(user or None, the name kept on the row) for a User, an API token, a string or None."""
    if actor is None:
        return None, SYSTEM_ACTOR
    if isinstance(actor, str):
        if not actor.strip():
            raise AuditError("An audit actor name cannot be blank.")
        return None, actor.strip()[:255]
    identity = getattr(actor, "identity", None)  # an API token
    if isinstance(identity, str) and identity:
        return None, identity[:255]
    if hasattr(actor, "get_username"):
        if not getattr(actor, "is_authenticated", False) or actor.pk is None:
            return None, "anonymous"
        return actor, actor.get_username()[:255]
    raise AuditError(f"Cannot name an audit actor of type {type(actor).__name__}.")


def _customer_fields(customer) -> tuple[Any, str]:
    """(mirrored Customer or None, Parsec customer id) for a Customer, an id string/UUID or None."""
    if customer is None or customer == "":
        return None, ""
    parsec_id = getattr(customer, "parsec_customer_id", None)
    if parsec_id is not None:
        return customer, str(parsec_id)
    ref = str(customer).strip()
    # The mirrored customer model, as the audit row's foreign key names it (the audit log sits
    # below the customers app and does not import it).
    customer_model = AuditEvent._meta.get_field("customer").related_model
    try:
        found = customer_model.objects.filter(parsec_customer_id=uuid.UUID(ref)).first()
    except ValueError:
        found = None
    return found, ref[:64]


def record_action(*, actor, action: str, customer=None, reason: str = "", request: dict | None = None,
                  outcome: str, response: dict | None = None) -> AuditEvent:
    """Append one operator action to the audit log and return the row.

    ``actor`` is a staff User, an API token (anything with ``.identity``), an identity string,
    or None for the system itself. ``customer`` is a ``customers.Customer``, a Parsec customer
    id, or None. ``request`` and ``response`` are sanitised here: secret-looking keys are
    replaced by ``"[redacted]"``.
    """
    action = (action or "").strip()
    if not action or len(action) > 100:
        raise AuditError("An audit action is a dotted verb of 1 to 100 characters, e.g. 'order.place'.")
    if action == ROTATED_ACTION:
        raise AuditError(f"{ROTATED_ACTION} rows are written only by rotate_chain_key (manage.py rotate_audit_key).")
    if outcome not in OUTCOMES:
        raise AuditError(f"Unknown audit outcome {outcome!r}; expected one of {sorted(OUTCOMES)}.")
    user, actor_name = _actor_fields(actor)
    customer_obj, customer_ref = _customer_fields(customer)
    clean_request = sanitise(request or {})
    clean_response = sanitise(response or {})
    for attempt in range(3):
        try:
            return _append(user=user, actor_name=actor_name, action=action, customer=customer_obj,
                           customer_ref=customer_ref, reason=str(reason or ""), request=clean_request,
                           outcome=outcome, response=clean_response)
        except IntegrityError:
            # Only reachable if two writers raced past the lock (a vendor without one); the
            # unique seq/hash refused the fork, so read the new head and try again.
            if attempt == 2 or in_caller_transaction():
                raise
    raise AssertionError("unreachable")


def _append(*, rotate: bool = False, **fields) -> AuditEvent:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        # SQLite: every transaction here begins IMMEDIATE (settings), so appends are serialized.
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, "")
        if rotate:
            kid, key = _rotation_key(AuditEvent.objects.get(seq=head[0]) if head else None, fields)
        else:
            try:
                kid, key = writing_key(prev_hash, lambda: AuditEvent.objects.get(seq=head[0]))
            except ChainKeyUnavailable as exc:
                raise AuditError(str(exc)) from exc
        event = AuditEvent(
            seq=seq, at=timezone.now().astimezone(UTC), actor=fields["user"], actor_name=fields["actor_name"],
            action=fields["action"], customer=fields["customer"], customer_ref=fields["customer_ref"],
            reason=fields["reason"], request=fields["request"], outcome=fields["outcome"],
            response=fields["response"], prev_hash=prev_hash,
        )
        event.hash = compute_hash(event, key)
        event.save(force_insert=True)
    remember(kid, event.hash)
    return event


def _rotation_key(head: AuditEvent | None, fields: dict) -> tuple[str, bytes]:
    """Under the chain's lock: the head must be under a retired key this process holds; the
    rotation row names both key ids and the old head, and is hashed under the current key."""
    new = key_id()
    if head is None:
        raise AuditError("The audit log is empty: there is nothing to rotate (its first row will use AUDIT_CHAIN_KEY).")
    old = key_of(head)
    if old is None:
        raise AuditError(f"The audit log's head (seq {head.seq}) verifies under no known key; run verify_audit_log.")
    if old == new:
        raise AuditError(f"The chain is already under AUDIT_CHAIN_KEY (key id {new}): nothing to rotate. Deploy the "
                         "new key as AUDIT_CHAIN_KEY, with this one in AUDIT_CHAIN_PREVIOUS_KEYS, then rotate.")
    fields["request"] = {"old_key_id": old, "new_key_id": new, "old_head_seq": head.seq, "old_head_hash": head.hash,
                         "scheme": "hmac-sha256"}
    return new, known_keys()[new]


def rotate_chain_key(*, actor, reason: str) -> AuditEvent:
    """Move the chain to AUDIT_CHAIN_KEY: append the ``audit.key_rotated`` row (under the new key)
    that closes the old key's segment. The caller has verified the chain first."""
    assert_no_transaction("rotate_chain_key()", error=AuditError)
    if not str(reason or "").strip():
        raise AuditError("A key rotation needs a reason (why the key is being replaced).")
    user, actor_name = _actor_fields(actor)
    event = _append(rotate=True, user=user, actor_name=actor_name, action=ROTATED_ACTION, customer=None,
                    customer_ref="", reason=str(reason).strip(), request={}, outcome=AuditEvent.Outcome.OK,
                    response={})
    logger.warning("audit chain key rotated at seq %s: key id %s -> %s", event.seq, event.request["old_key_id"],
                   event.request["new_key_id"])
    return event


@dataclass
class AuditEntry:
    """What the work inside ``audited`` reports; the row is written from it when the block ends."""

    outcome: str = AuditEvent.Outcome.OK
    response: dict = field(default_factory=dict)
    customer: Any = None
    event: AuditEvent | None = None


@contextmanager
def audited(*, actor, action: str, customer=None, reason: str = "", request: dict | None = None) -> Iterator[AuditEntry]:
    """Record ``action`` whatever happens inside the block.

    The block may set ``entry.outcome``, ``entry.response`` and ``entry.customer``. If it raises,
    the row says ``error`` (unless the block had already set another non-ok outcome) with the
    exception's type and message, and the exception propagates. The row is written in its own
    transaction after the block, so it must not run inside a caller's transaction.
    """
    assert_no_transaction("audited()", error=AuditError)
    entry = AuditEntry(customer=customer)
    try:
        yield entry
    except BaseException as exc:
        outcome = entry.outcome if entry.outcome != AuditEvent.Outcome.OK else AuditEvent.Outcome.ERROR
        response = {**entry.response, "error": str(exc)[:2000], "error_type": type(exc).__name__}
        try:
            entry.event = record_action(actor=actor, action=action, customer=entry.customer, reason=reason,
                                        request=request, outcome=outcome, response=response)
        except Exception:
            logger.exception("could not record failed action %s", action)
        raise
    entry.event = record_action(actor=actor, action=action, customer=entry.customer, reason=reason,
                                request=request, outcome=entry.outcome, response=entry.response)
