"""Reads are retried with backoff and Retry-After; order creation never; cancel only when nothing was sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from parsec import errors
from parsec.models import OutboundCall
from parsec.retry import CONNECT_ONLY, NEVER, READS, backoff_delay
from tests.parsec.sending import send_order
from tests.scripted_parsec import Reply, closed_port_url, error, make_client

EXCHANGES = [{"id": "kalshi", "name": "Kalshi", "has": {"create_order": True}}]
ORDER = {"customer_id": "cust-1", "exchange": "polymarket", "market_id": "0xabc", "outcome": "Yes", "side": "buy", "price": Decimal("0.55"), "size": Decimal(10)}


@pytest.mark.parametrize(
    "failure",
    [
        error(503, "service_unavailable", "kalshi is unavailable"),
        error(429, "rate_limit_exceeded", "rate limit exceeded", **{"Retry-After": "0"}),
        Reply(502, "<html>bad gateway</html>"),
        Reply(reset=True),
        Reply(200, EXCHANGES, delay=1.0),  # slower than the read timeout
    ],
    ids=["503", "429", "502-page", "reset", "timeout"],
)
def test_a_read_is_retried_after_a_transient_failure(gateway, parsec_server, failure):
    parsec_server.script("GET", "/exchanges", failure, EXCHANGES)
    assert [e.id for e in gateway.list_exchanges()] == ["kalshi"]
    assert len(parsec_server.seen("GET", "/api/v1/exchanges")) == 2
    assert list(OutboundCall.objects.order_by("created_at", "id").values_list("attempt", flat=True)) == [1, 2]


def test_read_attempts_are_capped(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", error(503, "service_unavailable", "down"))
    with pytest.raises(errors.ParsecUnavailable):
        gateway.list_exchanges()
    assert len(parsec_server.seen("GET")) == 3  # 1 + PARSEC_READ_RETRIES (2 here)


@pytest.mark.parametrize(
    "failure",
    [error(400, "bad_request", "bad"), error(404, "not_found", "gone"), error(500, "internal_error", "bug"), error(501, "not_supported", "no")],
    ids=["400", "404", "500", "501"],
)
def test_a_read_is_not_retried_after_a_definite_answer(gateway, parsec_server, failure):
    parsec_server.script("GET", "/exchanges", failure, EXCHANGES)
    with pytest.raises(errors.ParsecError):
        gateway.list_exchanges()
    assert len(parsec_server.seen("GET")) == 1


def test_retry_after_is_honoured_between_read_attempts(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "1"}), EXCHANGES)
    gateway.list_exchanges()
    first, second = parsec_server.seen("GET")
    assert second.at - first.at >= 0.95


def test_a_retry_after_longer_than_the_backoff_cap_is_not_slept_through(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "30"}), EXCHANGES)
    with pytest.raises(errors.RateLimited) as caught:
        gateway.list_exchanges()
    assert caught.value.retry_after == 30
    assert len(parsec_server.seen("GET")) == 1


@pytest.mark.parametrize("header", ["1.5s", "soon", "inf", "nan", "Thu, 99 Foo 2026 25:61:00 GMT"], ids=["unit", "word", "inf", "nan", "bad-date"])
def test_an_unreadable_retry_after_counts_as_absent_and_the_gateway_backs_off_by_itself(gateway, parsec_server, header):
    parsec_server.script("GET", "/exchanges", error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": header}), EXCHANGES)
    assert [e.id for e in gateway.list_exchanges()] == ["kalshi"]
    assert len(parsec_server.seen("GET")) == 2
    rows = list(OutboundCall.objects.order_by("attempt").values_list("attempt", "status_code", "retry_after"))
    assert rows == [(1, 429, None), (2, 200, None)]


def test_a_refusal_with_an_unreadable_retry_after_is_still_a_rate_limit_without_a_wait(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "1.5s"}))
    with pytest.raises(errors.RateLimited) as caught:
        gateway.list_exchanges()
    assert caught.value.retry_after is None and len(parsec_server.seen("GET")) == 3


def test_a_success_that_carries_an_unreadable_retry_after_is_a_success(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", Reply(200, EXCHANGES, headers={"Retry-After": "1.5s"}))
    assert [e.id for e in gateway.list_exchanges()] == ["kalshi"]
    assert list(OutboundCall.objects.values_list("status_code", "error_code", "retry_after")) == [(200, "", None)]


@pytest.mark.parametrize(
    "failure",
    [
        error(503, "service_unavailable", "down"),
        error(429, "rate_limit_exceeded", "slow", **{"Retry-After": "0"}),
        Reply(reset=True),
        Reply(200, {}, delay=1.0),
    ],
    ids=["503", "429", "reset", "timeout"],
)
def test_order_creation_is_never_retried(gateway, parsec_server, failure):
    parsec_server.script("POST", "/orders", failure, {"id": "ord-2"})
    with pytest.raises(errors.ParsecError):
        send_order(gateway, **ORDER)
    assert len(parsec_server.seen("POST")) == 1


def test_order_creation_is_not_retried_even_when_the_connection_is_refused(db):
    gateway = make_client(closed_port_url())
    with pytest.raises(errors.ParsecConnectionError):
        send_order(gateway, **ORDER)
    assert OutboundCall.objects.count() == 1


def test_cancel_is_retried_only_when_nothing_was_sent(db):
    gateway = make_client(closed_port_url())
    with pytest.raises(errors.ParsecConnectionError):
        gateway.cancel_order(customer_id="cust-1", exchange="kalshi", order_id="ord-1")
    assert list(OutboundCall.objects.order_by("attempt").values_list("attempt", flat=True)) == [1, 2, 3]


@pytest.mark.parametrize("failure", [error(503, "service_unavailable", "down"), Reply(reset=True), Reply(200, {}, delay=1.0)], ids=["503", "reset", "timeout"])
def test_cancel_is_not_retried_once_the_request_may_have_arrived(gateway, parsec_server, failure):
    parsec_server.script("DELETE", "/orders/ord-1", failure)
    with pytest.raises(errors.ParsecError):
        gateway.cancel_order(customer_id="cust-1", exchange="kalshi", order_id="ord-1")
    assert len(parsec_server.seen("DELETE")) == 1


def test_backoff_is_capped_full_jitter_and_never_below_retry_after():
    delays = [backoff_delay(attempt, base=0.5, max_backoff=2.0) for attempt in range(1, 8) for _ in range(50)]
    assert all(0 <= d <= 2.0 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed schedule
    assert all(backoff_delay(5, base=0.5, max_backoff=2.0, retry_after=1.5) >= 1.5 for _ in range(50))


def test_policies_say_who_may_be_retried():
    refused = errors.ParsecConnectionError("refused", request_sent=False)
    reset = errors.ParsecConnectionError("reset", request_sent=None)
    kw = {"attempt": 1, "max_attempts": 3, "max_backoff": 8}
    assert READS.should_retry(reset, **kw) and READS.should_retry(refused, **kw)
    assert CONNECT_ONLY.should_retry(refused, **kw) and not CONNECT_ONLY.should_retry(reset, **kw)
    assert not NEVER.should_retry(refused, **kw)
    assert not READS.should_retry(reset, attempt=3, max_attempts=3, max_backoff=8)
