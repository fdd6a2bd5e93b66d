"""Every Parsec answer maps to one typed error, and to what an order creation did."""

from __future__ import annotations

from decimal import Decimal

import pytest

from parsec import errors
from parsec.errors import placement_outcome
from tests.parsec.sending import send_order
from tests.scripted_parsec import Reply, closed_port_url, error, make_client

ORDER = {"customer_id": "cust-1", "exchange": "polymarket", "market_id": "0xabc", "outcome": "Yes", "side": "buy", "price": Decimal("0.55"), "size": Decimal(10)}

CASES = [
    (error(400, "bad_request", "price must be a multiple of tick_size 0.01"), errors.BadRequest, "rejected"),
    (error(401, "unauthorized", "invalid API key"), errors.Unauthorized, "rejected"),
    (error(402, "insufficient_funds", "insufficient funds: need 5.50 USDC"), errors.InsufficientFunds, "rejected"),
    (error(403, "authentication_failed", "exchange authentication failed: polymarket"), errors.PermissionDenied, "rejected"),
    (error(403, "credentials_required", "exchange credentials not configured"), errors.CredentialsRequired, "rejected"),
    (error(404, "market_not_found", "market not found"), errors.NotFound, "rejected"),
    (error(429, "rate_limit_exceeded", "rate limit exceeded", **{"Retry-After": "2"}), errors.RateLimited, "not_placed"),
    (error(501, "not_supported", "fok is not supported on kalshi"), errors.NotSupported, "rejected"),
    (error(503, "service_unavailable", "polymarket is unavailable"), errors.ParsecUnavailable, "unknown"),
    (error(500, "internal_error", "internal error"), errors.ParsecUnavailable, "unknown"),
    (Reply(502, "<html><body>Bad gateway</body></html>"), errors.ParsecUnavailable, "unknown"),
    (Reply(500, "<html>oops</html>"), errors.ParsecUnavailable, "unknown"),
    (Reply(404, "<html>Not Found</html>"), errors.NotFound, "unknown"),
    (Reply(200, "<html>maintenance</html>"), errors.UnexpectedResponse, "unknown"),
]


@pytest.mark.parametrize(("reply", "expected", "outcome"), CASES, ids=[f"{c[0].status}-{c[1].__name__}" for c in CASES])
def test_each_parsec_answer_maps_to_one_error_class_and_placement_outcome(gateway, parsec_server, reply, expected, outcome):
    parsec_server.script("POST", "/orders", reply)
    with pytest.raises(errors.ParsecError) as caught:
        send_order(gateway, **ORDER)
    exc = caught.value
    assert type(exc) is expected
    assert exc.status == reply.status
    assert placement_outcome(exc) == outcome
    assert exc.placement_outcome == outcome
    assert len(parsec_server.seen("POST", "/api/v1/orders")) == 1
    if isinstance(reply.body, dict):
        assert exc.code == reply.body["code"]
        assert exc.retryable is reply.body["retryable"]
        assert reply.body["error"] in str(exc)  # Parsec's words reach the operator...
    assert exc.action in str(exc)  # ...with what to do about them
    assert "POST /orders" in str(exc)


def test_429_carries_retry_after_and_says_to_wait(gateway, parsec_server):
    parsec_server.script("POST", "/orders", error(429, "rate_limit_exceeded", "rate limit exceeded", **{"Retry-After": "3"}))
    with pytest.raises(errors.RateLimited) as caught:
        send_order(gateway, **ORDER)
    assert caught.value.retry_after == 3.0
    assert caught.value.retryable is True
    assert "Wait 3 s" in str(caught.value)


def test_a_rate_limit_keeps_parsecs_own_code_everywhere():
    """The gateway's table, the API and the intent's error_code use the spec's codes (they said
    `rate_limited` where Parsec says `rate_limit_exceeded`)."""
    per_second = errors.RateLimited("rate limit exceeded", status=429, code="rate_limit_exceeded")
    monthly = errors.RateLimited("monthly request limit exceeded", status=429, code="monthly_limit_exceeded")
    assert (errors.explain(per_second).code, errors.explain(per_second).kind) == ("rate_limit_exceeded", "rate_limited")
    assert errors.explain(monthly).code == "monthly_limit_exceeded"
    assert errors.explain(errors.RateLimited("slow down", status=429)).code == "rate_limit_exceeded"


def test_monthly_quota_429_is_not_retryable(gateway, parsec_server):
    parsec_server.script("GET", "/exchanges", error(429, "monthly_limit_exceeded", "monthly request limit exceeded"))
    with pytest.raises(errors.RateLimited) as caught:
        gateway.list_exchanges()
    assert caught.value.retryable is False
    assert len(parsec_server.seen("GET")) == 1  # a read is not retried either
    assert "monthly" in str(caught.value)


def test_read_timeout_is_a_timeout_with_unknown_placement(gateway, parsec_server):
    parsec_server.script("POST", "/orders", Reply(200, {}, delay=1.5))
    with pytest.raises(errors.ParsecTimeout) as caught:
        send_order(gateway, **ORDER)
    assert placement_outcome(caught.value) == "unknown"


def test_connection_reset_is_a_connection_error_with_unknown_placement(gateway, parsec_server):
    parsec_server.script("POST", "/orders", Reply(reset=True))
    with pytest.raises(errors.ParsecConnectionError) as caught:
        send_order(gateway, **ORDER)
    assert caught.value.request_sent is None
    assert placement_outcome(caught.value) == "unknown"


def test_refused_connection_means_nothing_was_sent(db):
    gateway = make_client(closed_port_url())
    with pytest.raises(errors.ParsecConnectionError) as caught:
        send_order(gateway, **ORDER)
    assert caught.value.request_sent is False
    assert placement_outcome(caught.value) == "not_placed"
    assert "PARSEC_API_BASE_URL" in str(caught.value)


def test_success_means_placed():
    assert placement_outcome(None) == "placed"


def test_a_programming_error_is_unknown_not_rejected():
    assert placement_outcome(KeyError("x")) == "unknown"
