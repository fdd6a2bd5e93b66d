"""Fixtures of the orders tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def follow_ups(monkeypatch) -> list[tuple[int, int, float]]:
    """The escrow follow-ups the receivers enqueue, as (record id, attempt, countdown), not sent:
    the test runs them when it chooses."""
    from orders import tasks

    sent: list[tuple[int, int, float]] = []
    monkeypatch.setattr(tasks.follow_up_fee_record, "apply_async",
                        lambda args, countdown=0, **kwargs: sent.append((*args, countdown)))
    return sent
