"""The review workflow: open → assigned → reviewed → closed, audited, immutable once closed,
and Compliance may do this and nothing else that writes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, InternalError, OperationalError, ProgrammingError, connection, transaction
from django.urls import reverse

from audit.models import AuditEvent
from compliance import services
from compliance.models import Alert, Review
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert():
    return f.large_notional_alert()


def test_the_whole_workflow_leaves_a_closed_review_and_three_audit_events(alert, reviewer):
    services.assign_alert(alert=alert, actor=reviewer)
    assert alert.status == "assigned" and alert.assigned_to == reviewer
    review = services.review_alert(alert=alert, actor=reviewer, disposition="no_issue", note="Known market maker.")
    assert alert.status == "reviewed" and review.note == "Known market maker."
    services.close_alert(alert=alert, actor=reviewer)
    review.refresh_from_db()
    assert alert.status == "closed" and review.closed_by == reviewer and review.closed_at is not None
    actions = list(AuditEvent.objects.filter(customer=alert.customer).order_by("seq").values_list("action", "actor_name"))
    assert actions == [("alert.assign", reviewer.username), ("alert.review", reviewer.username), ("alert.close", reviewer.username)]


def test_steps_out_of_order_are_refused_with_a_clear_reason(alert, reviewer):
    with pytest.raises(services.ReviewError, match="Only an assigned alert can be reviewed"):
        services.review_alert(alert=alert, actor=reviewer, disposition="no_issue", note="x")
    with pytest.raises(services.ReviewError, match="Only a reviewed alert can be closed"):
        services.close_alert(alert=alert, actor=reviewer)
    services.assign_alert(alert=alert, actor=reviewer)
    with pytest.raises(services.ReviewError) as blank:
        services.review_alert(alert=alert, actor=reviewer, disposition="no_issue", note="   ")
    assert blank.value.field == "note"
    with pytest.raises(services.ReviewError) as bad:
        services.review_alert(alert=alert, actor=reviewer, disposition="looks fine", note="ok")
    assert bad.value.field == "disposition"
    assert not Review.objects.exists() and Alert.objects.get(pk=alert.pk).status == "assigned"


def test_only_the_assignee_records_the_review(alert, reviewer, django_user_model):
    from django.contrib.auth.models import Group

    other = django_user_model.objects.create_user(username="cora.compliance", password="x" * 16, is_staff=True)
    other.groups.add(Group.objects.get(name="Compliance"))
    services.assign_alert(alert=alert, actor=reviewer)
    with pytest.raises(services.ReviewError, match="assigned to someone else"):
        services.review_alert(alert=alert, actor=other, disposition="escalated", note="mine")


def test_operations_users_cannot_work_on_alerts(alert, operator):
    with pytest.raises(services.ReviewError) as refused:
        services.assign_alert(alert=alert, actor=operator)
    assert refused.value.code == "forbidden"


def test_a_closed_review_cannot_change_through_the_model_or_raw_sql(alert, reviewer):
    services.assign_alert(alert=alert, actor=reviewer)
    review = services.review_alert(alert=alert, actor=reviewer, disposition="explained", note="Hedging, documented.")
    services.close_alert(alert=alert, actor=reviewer)
    review.refresh_from_db()
    review.note = "rewritten later"
    with pytest.raises(ValueError, match="immutable"):
        review.save()
    with pytest.raises(ValueError):
        review.delete()
    with pytest.raises((IntegrityError, InternalError, OperationalError, ProgrammingError)), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_review SET note = %s WHERE id = %s", ["rewritten", review.pk])
    assert Review.objects.get(pk=review.pk).note == "Hedging, documented."
    with pytest.raises(services.ReviewError):
        services.assign_alert(alert=alert, actor=reviewer)


def test_a_reviewer_works_the_alert_through_the_admin_page(alert, reviewer_client, reviewer):
    url = reverse("admin:compliance_alert_change", args=[alert.pk])
    page = reviewer_client.get(url)
    assert page.status_code == 200 and b"Assign to me" in page.content
    assert reviewer_client.post(url, {"step": "assign"}).status_code == 302
    refused = reviewer_client.post(url, {"step": "review", "disposition": "no_issue", "note": ""})
    assert refused.status_code == 200 and b"Give a disposition and a note." in refused.content
    assert reviewer_client.post(url, {"step": "review", "disposition": "no_issue", "note": "Checked."}).status_code == 302
    assert reviewer_client.post(url, {"step": "close"}).status_code == 302
    assert Alert.objects.get(pk=alert.pk).status == "closed"
    assert b"immutable" in reviewer_client.get(url).content


def test_operations_can_read_an_alert_but_not_review_it(alert, operator_client):
    url = reverse("admin:compliance_alert_change", args=[alert.pk])
    page = operator_client.get(url)
    assert page.status_code == 200 and b"Assign to me" not in page.content
    assert operator_client.post(url, {"step": "assign"}).status_code == 403
    assert Alert.objects.get(pk=alert.pk).status == "open"


def test_compliance_is_refused_every_trading_write(reviewer_client):
    cust = f.customer()
    for name, query in (("admin:orders_orderintent_place", f"?customer={cust.pk}"), ("admin:orders_orderintent_cancel", ""),
                        ("admin:orders_killswitch_engage", "")):
        url = reverse(name) + query
        assert reviewer_client.get(url).status_code == 403, name
        assert reviewer_client.post(url, {"customer": cust.pk, "reason": "x"}).status_code == 403, name


def test_the_alert_queue_finds_a_customers_alerts_by_any_of_its_ids(reviewer_client):
    mine = f.large_notional_alert()
    other = f.large_notional_alert()
    changelist = reverse("admin:compliance_alert_changelist")
    for ref in (str(mine.customer.pk), str(mine.customer.parsec_customer_id), mine.customer.external_id):
        listed = reviewer_client.get(changelist, {"q": ref}).context["cl"].result_list
        assert [alert.pk for alert in listed] == [mine.pk], ref
    by_title = reviewer_client.get(changelist, {"q": "earlier orders to compare"}).context["cl"].result_list
    assert {alert.pk for alert in by_title} == {mine.pk, other.pk}
