"""Surveillance alerts through the API: the review queue's filters, and assign → review → close
through compliance.services (Compliance only; refusals with the admin's reasons; audited)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests import factories as f
from tests.api.conftest import new_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert():
    return f.large_notional_alert()


def post(client, path, body=None):
    return client.post(path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())


def test_compliance_lists_filters_and_works_an_alert_to_closed(compliance_api, alert):
    listed = compliance_api.get("/api/alerts/", {"status": "open", "rule": "large_notional", "customer": alert.customer.external_id})
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["results"]] == [alert.pk]
    assert compliance_api.get("/api/alerts/", {"status": "closed"}).json()["results"] == []

    me = compliance_api.token.service_user.get_username()
    taken = post(compliance_api, f"/api/alerts/{alert.pk}/assign/")
    assert taken.status_code == 200 and taken.json()["status"] == "assigned" and taken.json()["assigned_to"] == me
    missing_note = post(compliance_api, f"/api/alerts/{alert.pk}/review/", {"disposition": "no_issue", "note": " "})
    assert missing_note.status_code == 400 and "note" in missing_note.json()["error"]["fields"]
    reviewed = post(compliance_api, f"/api/alerts/{alert.pk}/review/", {"disposition": "explained", "note": "Hedging a known position."})
    assert reviewed.status_code == 200 and reviewed.json()["review"]["disposition"] == "explained"
    closed = post(compliance_api, f"/api/alerts/{alert.pk}/close/")
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["review"]["closed_by"] == me

    again = post(compliance_api, f"/api/alerts/{alert.pk}/assign/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "wrong_state"
    actions = list(AuditEvent.objects.filter(customer=alert.customer).order_by("seq").values_list("action", flat=True))
    assert actions == ["alert.assign", "alert.review", "alert.close"]


def test_operations_can_read_alerts_but_not_work_them(ops_api, alert):
    read = ops_api.get(f"/api/alerts/{alert.pk}/")  # every role reads every app (core.roles)
    assert read.status_code == 200 and read.json()["status"] == "open" and read.json()["review"] is None
    refused = post(ops_api, f"/api/alerts/{alert.pk}/assign/")
    assert refused.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open" and not AuditEvent.objects.filter(action="alert.assign").exists()


def test_a_review_by_someone_else_than_the_assignee_is_a_conflict(compliance_api, alert, reviewer):
    from compliance import services

    services.assign_alert(alert=alert, actor=reviewer)
    refused = post(compliance_api, f"/api/alerts/{alert.pk}/review/", {"disposition": "no_issue", "note": "Checked."})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_assignee"
    unknown = post(compliance_api, f"/api/alerts/{alert.pk}/assign/", {"assignee": "nobody-here"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_user"
