"""Canary: a full end-user and fee-escrow run with unique secret strings, then a search of the
whole database (every text column, raw SQL), the captured logs, every Celery message published
and the outbound-call log for them. None may be found: the back-office passes exchange
credentials to Parsec and keeps nothing; end-user API keys and fee signatures are not stored."""

from __future__ import annotations

import json
import logging
import secrets
import uuid

import pytest
from celery.signals import before_task_publish
from django.urls import reverse

from approvals.models import ApprovalRequest
from customers.models import Customer
from orders.models import FeeEscrowRecord, OrderIntent
from parsec.models import OutboundCall
from tests.fee_escrow import polymarket_market
from tests.security.dump import database_text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published():
    messages: list[str] = []

    def keep(sender=None, body=None, headers=None, **kwargs):
        messages.append(json.dumps({"sender": sender, "body": body, "headers": headers}, default=str))

    before_task_publish.connect(keep, weak=False)
    yield messages
    before_task_publish.disconnect(keep)


def test_no_secret_is_left_anywhere_after_a_full_run(client, sandbox, alice, operator, second_operator, caplog,
                                                     published):
    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(8)
    kalshi = {"api_key_id": f"CANARY-KALSHI-ID-{tag}",
              "private_key": f"-----BEGIN PRIVATE KEY-----\nCANARYPEM{tag}\n-----END PRIVATE KEY-----\n"}
    poly_key = "0x" + secrets.token_hex(32)
    poly = {"clob_api_key": f"CANARY-CLOB-KEY-{tag}", "clob_api_secret": f"CANARY-CLOB-SECRET-{tag}",
            "clob_api_passphrase": f"CANARY-CLOB-PASS-{tag}", "private_key": poly_key}
    secrets_to_find = {**{f"kalshi.{k}": v for k, v in kalshi.items()}, **{f"polymarket.{k}": v for k, v in poly.items()}}
    secrets_to_find["kalshi.private_key"] = f"CANARYPEM{tag}"  # the distinctive part of the PEM

    client.force_login(operator)
    external_id = f"canary-{uuid.uuid4().hex[:8]}"
    response = client.post(reverse("admin:customers_customer_new_end_user"), {"external_id": external_id, "email": "c@example.com"})
    assert response.status_code == 302
    customer = Customer.objects.get(external_id=external_id)
    end_user_key = sandbox.sdk().builder.users.create(external_id=external_id).api_key
    assert end_user_key and len(end_user_key) > 8
    secrets_to_find["end-user api_key"] = end_user_key

    onboard = reverse("admin:customers_customer_onboard", args=[customer.pk])
    refused = client.post(onboard, {"exchange": "kalshi", "mode": "self", "api_key_id": kalshi["api_key_id"]})
    assert "needs private_key" in refused.content.decode() and kalshi["api_key_id"] not in refused.content.decode()
    assert client.post(onboard, {"exchange": "kalshi", "mode": "self", **kalshi}).status_code == 302
    assert client.post(onboard, {"exchange": "polymarket", "mode": "self", **poly}).status_code == 302
    assert set(customer.exchange_links.values_list("mode", flat=True)) == {"self"}
    client.post(reverse("admin:customers_customer_qps_limit", args=[customer.pk]), {"qps_limit": 7, "reason": "canary"})
    from sync.services import sync_customer_now

    sync_customer_now(customer=customer, requested_by=operator)  # a task message, as an operator's "sync now" sends

    # A fee-escrow order for a demo customer: its wallet signs in the sandbox.
    form = client.get(reverse("admin:orders_orderintent_place") + f"?customer={alice.pk}").context["form"]
    client.post(reverse("admin:orders_orderintent_place"), {
        "key": form.initial["key"], "customer": alice.pk, "exchange": "polymarket", "market": polymarket_market().pk,
        "outcome": "Yes", "side": "buy", "price": "0.05", "size": "10", "order_type": "gtc", "reason": "canary",
        "collect_fee": "on"})
    intent = OrderIntent.objects.get(customer=alice)
    client.post(reverse("admin:orders_orderintent_confirm", args=[intent.key]), {"action": "send"})
    assert FeeEscrowRecord.objects.get(intent=intent).state == FeeEscrowRecord.State.PULLED
    from decimal import Decimal

    from orders import escrow, services
    from orders.services import OrderRequest

    second = services.create_intent(actor=operator, request=OrderRequest(customer=alice, exchange="polymarket", market=polymarket_market(), outcome="Yes", side="buy", price=Decimal("0.05"), size=Decimal("10"), reason="canary", fee_base_units=100_000, fee_auth_order_id=escrow.new_fee_order_id()))
    fee_auth = escrow.sandbox_fee_auth(intent=second)
    assert services.submit_intent(intent=second, actor=operator, fee_auth=fee_auth).intent.status == OrderIntent.Status.PLACED
    secrets_to_find["fee signature"] = fee_auth.signature.removeprefix("0x")

    client.post(reverse("admin:customers_customer_deactivate", args=[customer.pk]),
                {"confirm_external_id": external_id, "reason": "canary done"})
    client.force_login(second_operator)
    approval = ApprovalRequest.objects.get(action="customer.deactivate")
    client.post(reverse("admin:approvals_approvalrequest_decide", args=[approval.pk]), {"decision": "approve"})
    customer.refresh_from_db()
    assert customer.status == Customer.Status.DEACTIVATED

    assert OutboundCall.objects.filter(path_template="/builder/onboard").count() >= 2
    assert published, "the run should have published at least one task message"
    places = {
        "database": database_text(),
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "task messages": "\n".join(published),
    }
    # Positive controls: the searches do see what the run wrote.
    assert external_id in places["database"] and "credential_fields" in places["database"]
    assert "/builder/onboard" in places["database"] and str(customer.pk) in places["task messages"]
    assert "AXES" in places["logs"]
    found = [(name, where) for name, value in secrets_to_find.items() for where, text in places.items()
             if value.lower() in text.lower()]
    assert found == []
