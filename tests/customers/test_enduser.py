"""End-user management against the running sandbox: create, onboard on both exchanges (and the
refusals), qps_limit with the pool before and after, four-eyes deactivation; pages and roles."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from approvals.models import ApprovalRequest
from approvals.services import ApprovalError, approve
from audit.models import AuditEvent
from customers import services
from customers.models import Customer, ExchangeLink
from parsec.client import get_client

pytestmark = pytest.mark.django_db(transaction=True)

FAKE_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC{}\n-----END PRIVATE KEY-----\n"


def new_user(operator, **extra) -> Customer:
    return services.create_end_user(actor=operator, external_id=f"enduser-{uuid.uuid4().hex[:10]}", email="u@example.com", **extra)


def test_creating_an_end_user_mirrors_it_and_is_audited(parsec_settings, operator):
    address = "0x" + "ab" * 20
    customer = new_user(operator, eoa_address=address)
    at_parsec = get_client().get_user(customer_id=str(customer.parsec_customer_id))
    assert at_parsec.external_id == customer.external_id
    assert customer.qps_limit == at_parsec.qps_limit and customer.tier == (at_parsec.tier or "")
    event = AuditEvent.objects.get(action="customer.create")
    assert event.outcome == "ok" and event.request["external_id"] == customer.external_id


def test_a_duplicate_external_id_is_refused_clearly(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.create_end_user(actor=operator, external_id=customer.external_id)
    assert refused.value.code == "exists" and customer.external_id in refused.value.message


@pytest.mark.parametrize(("fields", "code"), [
    ({"external_id": " "}, "bad_external_id"), ({"external_id": "x", "email": "not-an-email"}, "bad_email"),
    ({"external_id": "x", "eoa_address": "0x123"}, "bad_address"),
])
def test_bad_input_is_refused_before_parsec(parsec_settings, operator, fields, code):
    with pytest.raises(services.EndUserError) as refused:
        services.create_end_user(actor=operator, **fields)
    assert refused.value.code == code
    assert not Customer.objects.exists()


def test_managed_onboarding_on_polymarket_records_the_mode(parsec_settings, operator):
    customer = new_user(operator)
    result = services.onboard_end_user(actor=operator, customer=customer, exchange="polymarket", mode="managed")
    assert result.exchange == "polymarket" and "polymarket" in result.linked_exchanges
    link = ExchangeLink.objects.get(customer=customer, exchange="polymarket")
    assert link.mode == ExchangeLink.Mode.MANAGED
    assert customer.wallets.exists()  # Parsec created the managed wallet; the mirror has it


def test_self_onboarding_on_kalshi_passes_the_credentials_through(parsec_settings, operator):
    customer = new_user(operator)
    services.onboard_end_user(actor=operator, customer=customer, exchange="kalshi", mode="self",
                              credentials={"api_key_id": "kalshi-key-1", "private_key": FAKE_PEM.format("AAAA")})
    assert ExchangeLink.objects.get(customer=customer, exchange="kalshi").mode == ExchangeLink.Mode.SELF
    assert "kalshi" in get_client().get_user(customer_id=str(customer.parsec_customer_id)).linked_exchanges
    event = AuditEvent.objects.get(action="customer.onboard")
    assert event.request["credential_fields"] == ["api_key_id", "private_key"]
    assert "kalshi-key-1" not in str(event.request) + str(event.response)


def test_self_onboarding_on_polymarket_with_the_clob_trio(parsec_settings, operator):
    customer = new_user(operator)
    services.onboard_end_user(actor=operator, customer=customer, exchange="polymarket", mode="self", credentials={
        "clob_api_key": "k", "clob_api_secret": "s", "clob_api_passphrase": "p"})
    assert ExchangeLink.objects.get(customer=customer, exchange="polymarket").mode == ExchangeLink.Mode.SELF


def test_managed_kalshi_is_refused_with_the_reason(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.onboard_end_user(actor=operator, customer=customer, exchange="kalshi", mode="managed")
    assert refused.value.code == "managed_kalshi" and "self mode" in refused.value.message
    assert AuditEvent.objects.filter(action="customer.onboard", outcome="rejected").exists()
    assert "kalshi" not in get_client().get_user(customer_id=str(customer.parsec_customer_id)).linked_exchanges


@pytest.mark.parametrize(("exchange", "credentials", "missing"), [
    ("kalshi", {"api_key_id": "only-the-id"}, "private_key"),
    ("polymarket", {"clob_api_key": "k"}, "clob_api_secret, clob_api_passphrase"),
])
def test_missing_credentials_are_named(parsec_settings, operator, exchange, credentials, missing):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.onboard_end_user(actor=operator, customer=customer, exchange=exchange, mode="self", credentials=credentials)
    assert refused.value.code == "missing_credentials" and missing in refused.value.message


def test_parsecs_own_refusal_is_shown(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.onboard_end_user(actor=operator, customer=customer, exchange="kalshi", mode="self",
                                  credentials={"api_key_id": "id", "private_key": "not a pem"})
    assert refused.value.code == "parsec_refused" and "PEM" in refused.value.message


def test_qps_limit_change_shows_the_pool_before_and_after(parsec_settings, operator, qps_pool):
    qps_pool(1_000_000)
    customer = new_user(operator)
    old = customer.qps_limit
    change = services.update_qps_limit(actor=operator, customer=customer, qps_limit=old + 3, reason="busy client")
    assert change.customer.qps_limit == old + 3 == get_client().get_user(customer_id=str(customer.parsec_customer_id)).qps_limit
    assert change.after.total_allocated_qps - change.before.total_allocated_qps == 3
    event = AuditEvent.objects.get(action="customer.qps_limit")
    assert event.response["pool_after"]["total_allocated_qps"] == change.after.total_allocated_qps


def test_a_zero_qps_limit_is_refused(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError):
        services.update_qps_limit(actor=operator, customer=customer, qps_limit=0, reason="r")


def test_deactivation_needs_the_typed_external_id(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.request_deactivation(actor=operator, customer=customer, confirm_external_id="something else", reason="closed")
    assert refused.value.code == "confirmation_mismatch"
    assert not ApprovalRequest.objects.exists()


def test_deactivation_reaches_parsec_only_after_a_second_operator_approves(parsec_settings, operator, second_operator):
    customer = new_user(operator)
    request = services.request_deactivation(actor=operator, customer=customer, confirm_external_id=customer.external_id,
                                            reason="account closed")
    assert get_client().get_user(customer_id=str(customer.parsec_customer_id)).status != "deactivated"
    with pytest.raises(ApprovalError):
        approve(request=request, actor=operator)
    customer.refresh_from_db()
    assert customer.is_active
    request = approve(request=request, actor=second_operator, note="checked")
    assert request.result["ok"] is True
    customer.refresh_from_db()
    assert customer.status == Customer.Status.DEACTIVATED and customer.deactivated_at is not None
    users = {u.customer_id: u for u in get_client().iter_users()}
    assert str(customer.parsec_customer_id) not in users or users[str(customer.parsec_customer_id)].status == "deactivated"
    assert AuditEvent.objects.filter(action="customer.deactivate", outcome="ok", actor=second_operator).exists()
    with pytest.raises(services.EndUserError):  # irreversible: nothing more to do with it
        services.update_qps_limit(actor=operator, customer=customer, qps_limit=5, reason="r")


# --- Pages ---------------------------------------------------------------------------------------


def test_operations_pages_work_and_compliance_gets_403(parsec_settings, operator, reviewer, client):
    customer = new_user(operator)
    pages = [reverse("admin:customers_customer_new_end_user")] + [
        reverse(f"admin:customers_customer_{name}", args=[customer.pk]) for name in ("onboard", "qps_limit", "deactivate")]
    client.force_login(reviewer)
    for url in pages:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {}).status_code == 403, url
    client.force_login(operator)
    for url in pages:
        assert client.get(url).status_code == 200, url


def test_the_qps_page_shows_the_pool_before_and_after(parsec_settings, operator_client, operator, qps_pool):
    qps_pool(1_000_000)
    customer = new_user(operator)
    url = reverse("admin:customers_customer_qps_limit", args=[customer.pk])
    response = operator_client.post(url, {"qps_limit": customer.qps_limit + 1, "reason": "more"})
    assert response.status_code == 302 and response["Location"] == url  # a reload does not post again
    page = operator_client.get(url).content.decode()
    assert f"→ {customer.qps_limit + 1}. Builder pool allocated before" in page and "Allocated to end-users" in page


def test_the_onboard_page_shows_a_refusal_and_never_echoes_a_secret(parsec_settings, operator_client, operator):
    customer = new_user(operator)
    page = operator_client.post(reverse("admin:customers_customer_onboard", args=[customer.pk]), {
        "exchange": "kalshi", "mode": "managed", "api_key_id": "ECHO-CANARY-1"}).content.decode()
    assert "Kalshi has no managed mode" in page or "Managed mode takes no exchange credentials" in page
    assert "ECHO-CANARY-1" not in page


def test_the_deactivate_page_requests_approval(parsec_settings, operator_client, operator):
    customer = new_user(operator)
    url = reverse("admin:customers_customer_deactivate", args=[customer.pk])
    page = operator_client.post(url, {"confirm_external_id": "wrong", "reason": "x"}).content.decode()
    assert "Type the end-user&#x27;s external id exactly" in page
    response = operator_client.post(url, {"confirm_external_id": customer.external_id, "reason": "closed"})
    request = ApprovalRequest.objects.get(action="customer.deactivate")
    assert response.status_code == 302 and response["Location"] == reverse("admin:approvals_approvalrequest_decide", args=[request.pk])
    customer.refresh_from_db()
    assert customer.is_active


def test_a_qps_limit_above_the_pool_is_refused_with_the_numbers(parsec_settings, operator, qps_pool):
    customer = new_user(operator)
    pool = get_client().get_pool()
    qps_pool(pool.total_allocated_qps + 5)  # room for 5 more QPS
    with pytest.raises(services.EndUserError) as refused:
        services.update_qps_limit(actor=operator, customer=customer, qps_limit=customer.qps_limit + 6, reason="busy")
    room = customer.qps_limit + 5
    assert refused.value.code == "over_pool" and refused.value.field == "qps_limit"
    assert refused.value.message == (
        f"{customer.qps_limit + 6} would allocate {pool.total_allocated_qps + 6} QPS of the builder's pool of "
        f"{pool.total_allocated_qps + 5} (1 over). The most this end-user can have is {room}.")
    assert get_client().get_user(customer_id=str(customer.parsec_customer_id)).qps_limit == customer.qps_limit
    assert AuditEvent.objects.get(action="customer.qps_limit").outcome == "rejected"
    change = services.update_qps_limit(actor=operator, customer=customer, qps_limit=room, reason="busy")
    assert change.after.total_allocated_qps == change.after.qps_pool


def test_a_qps_change_needs_a_reason(parsec_settings, operator):
    customer = new_user(operator)
    with pytest.raises(services.EndUserError) as refused:
        services.update_qps_limit(actor=operator, customer=customer, qps_limit=customer.qps_limit + 1, reason=" ")
    assert refused.value.code == "reason_required" and refused.value.field == "reason"


def test_the_qps_page_previews_the_pool_before_submitting(parsec_settings, operator_client, operator, qps_pool):
    customer = new_user(operator)
    pool = get_client().get_pool()
    qps_pool(pool.total_allocated_qps + 5)
    preview_url = reverse("admin:customers_customer_qps_preview", args=[customer.pk])
    page = operator_client.get(reverse("admin:customers_customer_qps_limit", args=[customer.pk])).content.decode()
    assert f'hx-get="{preview_url}"' in page and "This field is required" not in page
    fits = operator_client.get(preview_url, {"qps_limit": customer.qps_limit + 5}).content.decode()
    assert f"{pool.total_allocated_qps + 5} of {pool.total_allocated_qps + 5}" in fits and 'data-over="false"' in fits
    over = operator_client.get(preview_url, {"qps_limit": customer.qps_limit + 6}).content.decode()
    assert 'data-over="true"' in over and "1 over" in over


def test_the_email_typed_at_creation_is_kept_through_later_syncs(parsec_settings, operator):
    from django.utils import timezone

    from customers.sync import upsert_users

    customer = services.create_end_user(actor=operator, external_id=f"enduser-{uuid.uuid4().hex[:10]}", email="kept@example.com")
    assert customer.email == "kept@example.com"
    upsert_users([get_client().get_user(customer_id=str(customer.parsec_customer_id))], now=timezone.now())
    customer.refresh_from_db()
    assert customer.email == "kept@example.com"


def test_synced_links_know_their_mode_where_parsec_implies_it(parsec_settings, operator):
    from django.utils import timezone

    from customers.sync import upsert_users

    customer = new_user(operator)
    client = get_client()
    client.onboard(customer_id=str(customer.parsec_customer_id), exchange="polymarket", mode="managed")
    ExchangeLink.objects.filter(customer=customer).update(mode=ExchangeLink.Mode.UNKNOWN)  # as mirrored before
    upsert_users([client.get_user(customer_id=str(customer.parsec_customer_id))], now=timezone.now())
    assert ExchangeLink.objects.get(customer=customer, exchange="polymarket").mode == ExchangeLink.Mode.MANAGED


def test_the_onboard_form_shows_each_credential_field_only_for_its_exchange_and_mode(parsec_settings, operator_client, operator):
    customer = new_user(operator)
    page = operator_client.get(reverse("admin:customers_customer_onboard", args=[customer.pk])).content.decode()
    assert page.count('data-show-if="exchange=polymarket mode=self"') == 3
    assert page.count('data-show-if="exchange=kalshi mode=self"') == 1 and page.count('data-show-if="mode=self"') == 1
    assert "This field is required" not in page
