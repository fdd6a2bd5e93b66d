"""The dashboard tells people what waits for them: approvals for approvers (card and sidebar),
a sync badge that is never green beside failing customers, and an "as of" time that moves with
the sections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import services as approvals
from backoffice import dashboard
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting_request(second_operator):
    from customers.services import DEACTIVATE_ACTION, register_approval_actions

    register_approval_actions()
    return approvals.request_approval(action=DEACTIVATE_ACTION, actor=second_operator, customer=f.customer(),
                                      payload={}, reason="closing the account", summary="Deactivate end-user x")


def test_an_approver_sees_the_waiting_request_on_the_dashboard_and_in_the_sidebar(operator_client, waiting_request):
    html = operator_client.get(reverse("admin:index")).content.decode()
    assert 'data-section="approvals"' in html and "Deactivate end-user x" in html
    assert reverse("admin:approvals_approvalrequest_decide", args=[waiting_request.pk]) in html
    assert 'data-figure="approvals-waiting">1 to decide<' in html
    navigation = operator_client.get(reverse("admin:index")).context["sidebar_navigation"]
    item = next(i for g in navigation for i in g["items"] if i["title"] == "Approval requests")
    assert item["badge"] == "1"


def test_the_maker_is_not_asked_to_approve_their_own_request(client, second_operator, waiting_request):
    client.force_login(second_operator)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'data-figure="approvals-waiting">0<' in html and "Deactivate end-user x" not in html


def test_compliance_gets_no_approvals_card(reviewer_client, waiting_request):
    assert 'data-section="approvals"' not in reviewer_client.get(reverse("admin:index")).content.decode()


def test_the_sync_badge_is_not_fresh_while_a_customer_fails():
    now = timezone.now()
    for kind in (SyncRun.Kind.USERS, SyncRun.Kind.CUSTOMER_FULL, SyncRun.Kind.MARKETS):
        SyncRun.objects.create(kind=kind, status=SyncRun.Status.SUCCEEDED, started_at=now - timedelta(seconds=30),
                               finished_at=now - timedelta(seconds=20))
    from backoffice.models import SchedulerHeartbeat

    SchedulerHeartbeat.objects.update_or_create(name="beat", defaults={"beat_at": now})
    assert dashboard.sync_health(now)["state"] == "fresh"
    bad = f.customer()
    SyncRun.objects.create(kind=SyncRun.Kind.CUSTOMER_FULL, customer=bad, status=SyncRun.Status.FAILED,
                           started_at=now - timedelta(minutes=1), finished_at=now - timedelta(minutes=1))
    assert dashboard.sync_health(now)["state"] == "failing"


def test_each_section_carries_the_as_of_time_out_of_band(operator_client):
    fragment = operator_client.get(reverse("dashboard_section", args=["trading"]), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="dashboard-as-of"' in fragment and 'hx-swap-oob="true"' in fragment
    page = operator_client.get(reverse("admin:index")).content.decode()
    assert page.count('id="dashboard-as-of"') == 1 and 'hx-swap-oob' not in page


def test_an_order_approval_reads_as_numbers_a_person_reads(operator_client, second_operator, trading_customer, settings):
    from decimal import Decimal

    from orders import services
    from orders.services import OrderRequest

    settings.ORDER_FOUR_EYES_NOTIONAL_USDC = 1
    intent = services.create_intent(actor=second_operator, request=OrderRequest(customer=trading_customer, exchange="polymarket",
                                    market=f.market("polymarket"), outcome="Yes", side="buy", price=Decimal("0.20"),
                                    size=Decimal("2.5E+3"), reason="large"))
    approval = services.submit_for_approval(intent=intent, actor=second_operator)
    for url in (reverse("admin:index"), reverse("admin:approvals_approvalrequest_changelist"),
                reverse("admin:approvals_approvalrequest_decide", args=[approval.pk])):
        html = operator_client.get(url).content.decode()
        assert "E+" not in html and "Buy 2,500 “Yes” at 0.20 (500.00 USDC)" in html, url
