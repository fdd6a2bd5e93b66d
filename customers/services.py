"""End-user management from the back-office: create, onboard, change qps_limit, deactivate.

Each function validates locally, calls the gateway outside any transaction, mirrors the user
Parsec returns through the sync's own mapping (``customers.sync.upsert_users``) and leaves an
audit row whatever happens. Deactivation is irreversible, so it goes through the trading
four-eyes approval (``approvals.services.request_approval``): it reaches Parsec only
when a second Operations user approves.

Exchange credentials (self mode) are passed to the gateway once and kept nowhere: not in a row,
not in the audit payload (only the names of the fields given), not in a task message, not in a log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.core.validators import validate_email
from django.utils import timezone

from approvals import services as approvals
from approvals.models import ApprovalRequest
from core.db import assert_no_transaction
from core.errors import DomainError
from customers.enums import Exchange
from customers.models import QPS_LIMIT_MAX, Customer, ExchangeLink

logger = logging.getLogger(__name__)

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# The credential fields Parsec's POST /builder/onboard takes in self mode (NOTES §3).
SELF_CREDENTIALS = {
    Exchange.POLYMARKET: {"required": ("clob_api_key", "clob_api_secret", "clob_api_passphrase"), "optional": ("private_key",)},
    Exchange.KALSHI: {"required": ("api_key_id", "private_key"), "optional": ()},
}
DEACTIVATE_ACTION = "customer.deactivate"


class EndUserError(DomainError):
    """A refusal to show the operator as is (local check or Parsec's answer, then its ``__cause__``)."""

    code_kinds = {"exists": "conflict", "deactivated": "conflict", "already_requested": "conflict", "over_pool": "conflict"}


@dataclass(frozen=True)
class QpsChange:
    customer: Customer
    before: object  # parsec.types.PoolStatus
    after: object
    old_limit: int | None
    new_limit: int


def _client():
    from parsec.client import get_client

    return get_client()


def _audit(**kwargs) -> None:
    from audit.services import record_action

    record_action(**kwargs)


def _parsec_message(exc: Exception) -> str:
    from parsec.errors import explain

    return explain(exc).message


def mirror_user(customer_id: str) -> Customer:
    """Read the user back (create/onboard answers lack tier and qps_limit) and upsert it with the
    sync's mapping, so the row is exactly what a sync would write."""
    from customers.sync import upsert_users

    user = _client().get_user(customer_id=customer_id)
    upsert_users([user], now=timezone.now())
    return Customer.objects.get(parsec_customer_id=user.customer_id)


# --- Create -------------------------------------------------------------------------------------


def create_end_user(*, actor, external_id: str, email: str = "", eoa_address: str | None = None) -> Customer:
    assert_no_transaction()
    external_id, email, eoa_address = (external_id or "").strip(), (email or "").strip(), (eoa_address or "").strip() or None
    request = {"external_id": external_id, "email": email, "eoa_address": eoa_address}
    try:
        if not external_id or len(external_id) > 255:
            raise EndUserError("The external id is required (at most 255 characters).", code="bad_external_id", field="external_id")
        if email:
            try:
                validate_email(email)
            except Exception:
                raise EndUserError("Enter a valid email address.", code="bad_email", field="email") from None
        if eoa_address and not ADDRESS.match(eoa_address):
            raise EndUserError("A wallet address is 0x followed by 40 hex digits.", code="bad_address", field="eoa_address")
        if Customer.objects.filter(external_id=external_id).exists():
            raise EndUserError(f"An end-user with external id {external_id!r} already exists.", code="exists", field="external_id")
        try:
            user = _client().create_user(external_id=external_id, email=email or None, eoa_address=eoa_address)
            customer = mirror_user(user.customer_id)
            if email and not customer.email:
                # Parsec's user object has no email: the one typed here is kept in our own record
                # (the sync never writes the column, so it stays).
                Customer.objects.filter(pk=customer.pk, email="").update(email=email)
                customer.email = email
        except EndUserError:
            raise
        except Exception as exc:
            raise EndUserError(_parsec_message(exc), code="parsec_refused") from exc
    except EndUserError as exc:
        _audit(actor=actor, action="customer.create", request=request, outcome="rejected", response={"code": exc.code, "error": exc.message})
        raise
    _audit(actor=actor, action="customer.create", customer=customer, request=request, outcome="ok",
           response={"customer_id": str(customer.parsec_customer_id), "created": user.created})
    return customer


# --- Onboard ------------------------------------------------------------------------------------


def onboard_end_user(
    *, actor, customer: Customer, exchange: str, mode: str, credentials: dict | None = None,
    wallet_type: str | None = None, eoa_address: str | None = None,
):
    """Link the customer to an exchange. ``credentials`` (self mode) go to Parsec and nowhere else."""
    assert_no_transaction()
    credentials = {k: v for k, v in (credentials or {}).items() if v not in (None, "")}
    request = {"exchange": exchange, "mode": mode, "wallet_type": wallet_type, "eoa_address": eoa_address,
               "credential_fields": sorted(credentials)}  # names only, never values
    try:
        if not customer.is_active:
            raise EndUserError(f"{customer} is deactivated.", code="deactivated")
        if exchange not in SELF_CREDENTIALS:
            raise EndUserError("Onboarding is available on Polymarket and Kalshi.", code="bad_exchange", field="exchange")
        if mode not in (ExchangeLink.Mode.MANAGED, ExchangeLink.Mode.SELF):
            raise EndUserError("Choose managed or self mode.", code="bad_mode", field="mode")
        if mode == ExchangeLink.Mode.MANAGED and exchange == Exchange.KALSHI:
            raise EndUserError("Kalshi has no managed mode: end-users open their Kalshi account themselves; "
                               "onboard in self mode with their API key id and private key.", code="managed_kalshi", field="mode")
        if mode == ExchangeLink.Mode.MANAGED and credentials:
            raise EndUserError("Managed mode takes no exchange credentials.", code="credentials_not_needed")
        if mode == ExchangeLink.Mode.SELF:
            spec = SELF_CREDENTIALS[exchange]
            missing = [name for name in spec["required"] if not credentials.get(name)]
            if missing:
                raise EndUserError(f"Self mode on {Exchange(exchange).label} needs {', '.join(missing)}.",
                                   code="missing_credentials")
            unknown = set(credentials) - set(spec["required"]) - set(spec["optional"])
            if unknown:
                raise EndUserError(f"Unexpected credential fields: {', '.join(sorted(unknown))}.", code="bad_credentials")
        if eoa_address and not ADDRESS.match(eoa_address):
            raise EndUserError("A wallet address is 0x followed by 40 hex digits.", code="bad_address", field="eoa_address")
        try:
            result = _client().onboard(customer_id=str(customer.parsec_customer_id), exchange=exchange, mode=mode,
                                       wallet_type=wallet_type, eoa_address=eoa_address, credentials=credentials or None)
        except Exception as exc:
            raise EndUserError(_parsec_message(exc), code="parsec_refused") from exc
        finally:
            credentials.clear()
    except EndUserError as exc:
        _audit(actor=actor, action="customer.onboard", customer=customer, request=request, outcome="rejected",
               response={"code": exc.code, "error": exc.message})
        raise
    mirror_user(str(customer.parsec_customer_id))
    # The users list says only which exchanges are linked; the mode is known here, once.
    ExchangeLink.objects.update_or_create(customer=customer, exchange=exchange, defaults={"mode": mode})
    _audit(actor=actor, action="customer.onboard", customer=customer, request=request, outcome="ok",
           response={"status": result.status, "steps_completed": list(result.steps_completed),
                     "linked_exchanges": list(result.linked_exchanges)})
    return result


# --- qps_limit ----------------------------------------------------------------------------------


def pool_status():
    return _client().get_pool()


@dataclass(frozen=True)
class QpsAllocation:
    """The builder pool if ``customer`` had ``qps_limit``: what the page previews and the refusal cites."""

    qps_pool: int
    allocated_before: int
    allocated_after: int
    old_limit: int | None
    new_limit: int

    @property
    def over_by(self) -> int:
        return max(0, self.allocated_after - self.qps_pool)

    @property
    def most_allowed(self) -> int:
        return self.qps_pool - (self.allocated_before - (self.old_limit or 0))


def qps_allocation(*, customer: Customer, qps_limit: int, pool) -> QpsAllocation:
    allocated_after = pool.total_allocated_qps - (customer.qps_limit or 0) + qps_limit
    return QpsAllocation(qps_pool=pool.qps_pool, allocated_before=pool.total_allocated_qps, allocated_after=allocated_after,
                         old_limit=customer.qps_limit, new_limit=qps_limit)


def update_qps_limit(*, actor, customer: Customer, qps_limit: int, reason: str = "") -> QpsChange:
    """Change the customer's qps_limit; the builder pool's allocation is read before and after."""
    assert_no_transaction()
    old = customer.qps_limit
    request = {"qps_limit": qps_limit, "previous": old}
    try:
        if isinstance(qps_limit, bool) or not isinstance(qps_limit, int) or not 1 <= qps_limit <= QPS_LIMIT_MAX:
            raise EndUserError(f"qps_limit is a whole number from 1 to {QPS_LIMIT_MAX}.", code="bad_qps_limit",
                               field="qps_limit")
        if not customer.is_active:
            raise EndUserError(f"{customer} is deactivated.", code="deactivated")
        if not (reason or "").strip():
            raise EndUserError("Say why the qps_limit changes (kept on record).", code="reason_required", field="reason")
        try:
            before = pool_status()
        except Exception as exc:
            raise EndUserError(_parsec_message(exc), code="parsec_refused") from exc
        allocation = qps_allocation(customer=customer, qps_limit=qps_limit, pool=before)
        if allocation.over_by and qps_limit > (old or 0):
            raise EndUserError(
                f"{qps_limit} would allocate {allocation.allocated_after} QPS of the builder's pool of {allocation.qps_pool} "
                f"({allocation.over_by} over). The most this end-user can have is {max(allocation.most_allowed, 0)}.",
                code="over_pool", field="qps_limit")
        try:
            _client().update_user(customer_id=str(customer.parsec_customer_id), qps_limit=qps_limit)
        except Exception as exc:
            raise EndUserError(_parsec_message(exc), code="parsec_refused") from exc
    except EndUserError as exc:
        _audit(actor=actor, action="customer.qps_limit", customer=customer, reason=reason, request=request,
               outcome="rejected", response={"code": exc.code, "error": exc.message})
        raise
    customer = mirror_user(str(customer.parsec_customer_id))
    after = pool_status()
    _audit(actor=actor, action="customer.qps_limit", customer=customer, reason=reason, request=request, outcome="ok",
           response={"qps_limit": customer.qps_limit,
                     "pool_before": {"qps_pool": before.qps_pool, "total_allocated_qps": before.total_allocated_qps},
                     "pool_after": {"qps_pool": after.qps_pool, "total_allocated_qps": after.total_allocated_qps}})
    return QpsChange(customer=customer, before=before, after=after, old_limit=old, new_limit=customer.qps_limit)


# --- Deactivate (four eyes) ---------------------------------------------------------------------


def request_deactivation(*, actor, customer: Customer, confirm_external_id: str, reason: str):
    """Ask a second Operations user to approve deactivating ``customer`` (typed confirmation first)."""
    if not (reason or "").strip():
        raise EndUserError("Say why this end-user is deactivated.", code="reason_required", field="reason")
    if (confirm_external_id or "").strip() != customer.external_id:
        _audit(actor=actor, action="customer.deactivate.request", customer=customer, reason=reason,
               request={"confirm_external_id": confirm_external_id}, outcome="rejected",
               response={"error": "typed external id does not match"})
        raise EndUserError("Type the end-user's external id exactly to confirm.", code="confirmation_mismatch",
                           field="confirm_external_id")
    if not customer.is_active:
        raise EndUserError(f"{customer} is already deactivated.", code="deactivated")
    if ApprovalRequest.objects.filter(action=DEACTIVATE_ACTION, customer=customer, status=ApprovalRequest.Status.PENDING).exists():
        raise EndUserError("A deactivation request for this end-user is already waiting for approval.", code="already_requested")
    return approvals.request_approval(
        action=DEACTIVATE_ACTION, actor=actor, customer=customer, reason=reason,
        payload={"customer_id": str(customer.parsec_customer_id), "external_id": customer.external_id},
        summary=f"Deactivate end-user {customer.external_id} (irreversible)",
    )


def deactivate(*, actor, customer: Customer, approval=None) -> Customer:
    """Deactivate at Parsec, then mark the mirror. Only the approval handler calls this."""
    assert_no_transaction()
    request = {"customer_id": str(customer.parsec_customer_id), "approval": getattr(approval, "pk", None)}
    from parsec.errors import NotFound

    try:
        _client().deactivate_user(customer_id=str(customer.parsec_customer_id))
    except NotFound:
        pass  # already gone at Parsec (a retried approval): the outcome is the same
    except Exception as exc:
        _audit(actor=actor, action="customer.deactivate", customer=customer, request=request, outcome="error",
               response={"error": _parsec_message(exc)})
        raise EndUserError(_parsec_message(exc), code="parsec_refused") from exc
    now = timezone.now()
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.DEACTIVATED, deactivated_at=now)
    customer.refresh_from_db()
    _audit(actor=actor, action="customer.deactivate", customer=customer, request=request, outcome="ok",
           response={"status": customer.status})
    return customer


def _approved_deactivation(request, actor) -> dict:
    customer = Customer.objects.get(parsec_customer_id=request.payload["customer_id"])
    try:
        deactivate(actor=actor, customer=customer, approval=request)
    except EndUserError as exc:
        return {"ok": False, "error": exc.message, "code": exc.code}
    return {"ok": True, "customer": str(customer.parsec_customer_id), "status": Customer.Status.DEACTIVATED,
            "message": f"{customer.external_id} is deactivated at Parsec."}


def register_approval_actions() -> None:
    """What four eyes does with a deactivation (called from ``CustomersConfig.ready``)."""
    approvals.register(DEACTIVATE_ACTION, approved=_approved_deactivation)
