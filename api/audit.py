"""The audit log as the API uses it: every write recorded under the caller's identity."""

from __future__ import annotations


def record_action(**kwargs):
    from compliance.services import record_action as record

    return record(**kwargs)
