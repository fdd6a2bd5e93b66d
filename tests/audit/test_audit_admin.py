"""The audit log in the admin: every role reads and searches it, nobody can write it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(operator):
    placed = record_action(actor=operator, action="order.place", customer="c-123", reason="asked", outcome="ok",
                           request={"api_key": "pk_secret_value", "price": "0.5"}, response={"order_id": "o-9"})
    cancelled = record_action(actor="api-token:ab12 (tool)", action="order.cancel", outcome="rejected")
    return placed, cancelled


def _rows(client, **query) -> set[int]:
    """The events a changelist shows, by their change links."""
    page = client.get(reverse("admin:audit_auditevent_changelist"), query)
    assert page.status_code == 200
    return {int(pk) for pk in re.findall(rb"/admin/audit/auditevent/(\d+)/change/", page.content)}


def test_compliance_lists_searches_and_filters_the_log(reviewer_client, events):
    placed, cancelled = (e.pk for e in events)
    assert _rows(reviewer_client) == {placed, cancelled}
    assert _rows(reviewer_client, q="api-token") == {cancelled}
    assert _rows(reviewer_client, q="olivia") == {placed}
    assert _rows(reviewer_client, q="c-123") == {placed}
    assert _rows(reviewer_client, q="order.canc") == {cancelled}
    assert _rows(reviewer_client, outcome__exact="rejected") == {cancelled}
    assert _rows(reviewer_client, action__exact="order.place") == {placed}


def test_the_detail_page_is_read_only_and_shows_no_secret(reviewer_client, events):
    page = reviewer_client.get(reverse("admin:audit_auditevent_change", args=[events[0].pk]))
    assert page.status_code == 200
    assert b"o-9" in page.content and b"pk_secret_value" not in page.content
    assert b'name="_save"' not in page.content


@pytest.mark.parametrize("persona", ["reviewer", "operator", "administrator"])
def test_nobody_adds_changes_or_deletes_an_event(client, django_user_model, persona, request, events):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    pk = events[0].pk
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_change", args=[pk]), {"reason": "x"}).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_delete", args=[pk]), {"post": "yes"}).status_code == 403
    events[0].refresh_from_db()
    assert events[0].reason == "asked"


def test_a_superuser_cannot_write_either(client, django_user_model, events):
    root = django_user_model.objects.create_superuser("root", password="correct-horse-battery")
    client.force_login(root)
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_delete", args=[events[0].pk]), {"post": "yes"}).status_code == 403
    changelist = client.post(reverse("admin:audit_auditevent_changelist"),
                             {"action": "delete_selected", "_selected_action": [events[0].pk]})
    assert changelist.status_code == 200  # the list again: delete_selected is not an action here
    assert AuditEvent.objects.count() == 2
