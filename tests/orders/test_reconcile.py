"""Reconciliation: an intent whose answer was lost is resolved by looking at Parsec, never left unknown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from orders.models import Market, OrderIntent
from orders.services import OrderRequest
from tests.sandbox_client import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def market() -> Market:
    return Market.objects.filter(exchange="polymarket", market_type="binary", status="active").order_by("pk").first()


def lost_answer_intent(customer, operator, *, price="0.05", size="10", sent_ago=1) -> OrderIntent:
    """An intent as a lost answer leaves it: sent, outcome unknown."""
    m = market()
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=customer, exchange="polymarket", market=m, outcome="Yes", side="buy", price=Decimal(price), size=Decimal(size), reason="r"))
    sent_at = timezone.now() - timedelta(seconds=sent_ago)
    OrderIntent.objects.filter(pk=intent.pk).update(status=OrderIntent.Status.UNKNOWN, sent_at=sent_at, sent_by=operator,
                                                    error_code="timeout")
    intent.refresh_from_db()
    return intent


def place_at_sandbox(sandbox, customer, intent):
    """The order Parsec created although our client never heard back."""
    return sandbox.sdk().orders.create(
        exchange=intent.exchange, market_id=intent.market_native_id, outcome=intent.outcome, side=intent.side,
        price=float(intent.price), size=float(intent.size),
        extra_headers={"X-Builder-Customer-Id": str(customer.parsec_customer_id)},
    )


def test_an_order_found_at_parsec_resolves_the_intent_to_placed(sandbox, sandbox_customer, operator, capture_enqueues):
    intent = lost_answer_intent(sandbox_customer, operator)
    created = place_at_sandbox(sandbox, sandbox_customer, intent)
    intent = services.reconcile_intent(intent=intent, actor=operator)
    assert intent.status == OrderIntent.Status.PLACED and intent.parsec_order_id == created.id
    assert intent.reconcile_attempts == 1


def test_nothing_found_is_not_placed_only_after_the_settling_time(sandbox, sandbox_customer, operator, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 30
    intent = lost_answer_intent(sandbox_customer, operator, sent_ago=1)
    intent = services.reconcile_intent(intent=intent)
    assert intent.status == OrderIntent.Status.UNKNOWN and intent.next_check_at is not None
    assert capture_enqueues and capture_enqueues[-1][0] == "orders.tasks.reconcile_intent_task"
    OrderIntent.objects.filter(pk=intent.pk).update(sent_at=timezone.now() - timedelta(seconds=31))
    intent = services.reconcile_intent(intent=intent)
    assert intent.status == OrderIntent.Status.NOT_PLACED


def test_two_matching_orders_need_a_human(sandbox, sandbox_customer, operator, capture_enqueues):
    intent = lost_answer_intent(sandbox_customer, operator)
    place_at_sandbox(sandbox, sandbox_customer, intent)
    place_at_sandbox(sandbox, sandbox_customer, intent)
    intent = services.reconcile_intent(intent=intent)
    assert intent.status == OrderIntent.Status.NEEDS_REVIEW and "Several orders" in intent.reconcile_note


def test_an_order_already_linked_to_another_intent_is_not_claimed_twice(sandbox, sandbox_customer, operator, capture_enqueues, settings):
    settings.ORDER_RECONCILE_SETTLE_SECONDS = 0
    earlier = lost_answer_intent(sandbox_customer, operator)
    created = place_at_sandbox(sandbox, sandbox_customer, earlier)
    assert services.reconcile_intent(intent=earlier).status == OrderIntent.Status.PLACED
    # an identical later intent whose send was lost before reaching Parsec
    later = lost_answer_intent(sandbox_customer, operator)
    later = services.reconcile_intent(intent=later)
    assert later.status == OrderIntent.Status.NOT_PLACED
    assert OrderIntent.objects.filter(parsec_order_id=created.id).count() == 1


def test_an_unreachable_parsec_ends_in_needs_review_not_unknown(sandbox_customer, operator, capture_enqueues, settings):
    settings.ORDER_RECONCILE_MAX_ATTEMPTS = 3
    intent = lost_answer_intent(sandbox_customer, operator)
    settings.PARSEC_API_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.PARSEC_READ_RETRIES = 0
    for _ in range(3):
        intent = services.reconcile_intent(intent=intent)
    assert intent.status == OrderIntent.Status.NEEDS_REVIEW
    assert "Unresolved after 3 checks" in intent.reconcile_note


def test_the_deadline_sends_an_intent_to_review(sandbox_customer, operator, capture_enqueues, settings):
    intent = lost_answer_intent(sandbox_customer, operator, sent_ago=settings.ORDER_RECONCILE_DEADLINE_SECONDS + 5)
    settings.PARSEC_API_BASE_URL = f"http://127.0.0.1:{free_port()}"
    settings.PARSEC_READ_RETRIES = 0
    assert services.reconcile_intent(intent=intent).status == OrderIntent.Status.NEEDS_REVIEW


def test_the_deadline_keeps_every_unknown_intent_under_fifteen_minutes(settings):
    # worst case: the last check is due at the deadline and the sweeper runs one interval later
    worst = settings.ORDER_RECONCILE_DEADLINE_SECONDS + settings.ORDER_INTENT_SWEEP_INTERVAL + settings.ORDER_RECONCILE_RETRY_SECONDS
    assert worst < 15 * 60


def test_a_worker_lost_mid_send_is_found_by_the_sweeper(sandbox, sandbox_customer, operator, capture_enqueues, settings):
    from orders.services.common import send_lease_seconds

    settings.ORDER_SENDING_STALE_SECONDS = 5
    m = market()
    intent = services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=m, outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="r"))
    # the worker claimed it and Parsec created the order, then the worker died: once the send's
    # lease (the gateway's hard deadline, longer than the 5 s setting) has run out, the sweeper looks
    lease = send_lease_seconds()
    assert lease > 5
    OrderIntent.objects.filter(pk=intent.pk).update(status=OrderIntent.Status.SENDING,
                                                    sent_at=timezone.now() - timedelta(seconds=lease - 1))
    assert services.sweep_order_intents()["stale_sends"] == 0  # a slow send is not a lost one
    OrderIntent.objects.filter(pk=intent.pk).update(sent_at=timezone.now() - timedelta(seconds=lease + 1))
    created = place_at_sandbox(sandbox, sandbox_customer, intent)
    counts = services.sweep_order_intents()
    assert counts["stale_sends"] == 1 and counts["reconciled"] == 1
    intent.refresh_from_db()
    assert intent.status == OrderIntent.Status.PLACED and intent.parsec_order_id == created.id


def test_the_sweeper_requeues_a_queued_intent_no_worker_took_and_withdraws_a_stale_one(sandbox_customer, operator, capture_enqueues, settings):
    m = market()
    fresh, stale = (services.create_intent(actor=operator, request=OrderRequest(customer=sandbox_customer, exchange="polymarket", market=m, outcome="Yes", side="buy", price=Decimal(p), size=Decimal("10"), reason="r"))
                    for p in ("0.05", "0.06"))
    OrderIntent.objects.filter(pk=fresh.pk).update(queued_at=timezone.now() - timedelta(seconds=30))
    OrderIntent.objects.filter(pk=stale.pk).update(queued_at=timezone.now() - timedelta(seconds=settings.ORDER_QUEUED_MAX_DELAY_SECONDS + 1))
    counts = services.sweep_order_intents()
    assert counts == {**counts, "requeued": 1, "withdrawn": 1}
    assert ("orders.tasks.place_intent", (str(fresh.key),), 0) in capture_enqueues
    stale.refresh_from_db()
    assert stale.status == OrderIntent.Status.WITHDRAWN and stale.error_code == "not_sent_in_time"
