"""What four eyes does with an order (registered with ``approvals`` in ``OrdersConfig.ready``):
once approved, the order goes through the one placement entry; refused or expired, it is withdrawn."""

from __future__ import annotations

from approvals import services as approvals
from approvals.models import ApprovalRequest
from orders.escrow import FeeAuthError
from orders.models import OrderIntent
from orders.services.common import now
from orders.services.placement import submit_intent


def _order_request_closed(request: ApprovalRequest) -> None:
    OrderIntent.objects.filter(approval=request, status=OrderIntent.Status.AWAITING_APPROVAL).update(
        status=OrderIntent.Status.WITHDRAWN, resolved_at=now(),
        error_code=f"approval_{request.status}", error_message=f"The four-eyes request was {request.status}.",
    )


def _order_request_details(request: ApprovalRequest) -> dict:
    return {"intents": list(request.order_intents.select_related("market"))}


def _approved_order_placement(request: ApprovalRequest, actor) -> dict:
    intent = OrderIntent.objects.get(key=request.payload["intent"])
    OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.AWAITING_APPROVAL).update(status=OrderIntent.Status.NEW)
    try:
        result = submit_intent(intent=intent, actor=actor)
    except FeeAuthError as exc:
        # Nothing was sent and nothing can be (no signature to send): the intent ends here.
        OrderIntent.objects.filter(pk=intent.pk, status=OrderIntent.Status.NEW).update(
            status=OrderIntent.Status.WITHDRAWN, resolved_at=now(), error_code=exc.code[:64], error_message=exc.message[:4000],
        )
        return {"ok": False, "intent": str(intent.key), "error": exc.message, "code": exc.code}
    return {"ok": result.intent.status == OrderIntent.Status.PLACED, "intent": str(intent.key),
            "status": result.intent.status, "message": result.message}


def register_approval_actions() -> None:
    """What four eyes does with an order (called from ``OrdersConfig.ready``)."""
    approvals.register("order.place", approved=_approved_order_placement, closed=_order_request_closed,
                       details=_order_request_details, details_template="orders/trading/_approval_intents.html")
