"""ASVS V1/V2 (encoding, validation and business logic): bad input is a 4xx in the one error shape,
never a 500; a misspelt filter is refused rather than ignored; secrets never come back into a
page; the same bounds hold on every face; pages run no inline script, so the Content-Security-
Policy can forbid it."""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
from django.contrib import admin
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


# --- Crafted cursors, out-of-range offsets, oversized bodies ----------------------------------------


@pytest.mark.parametrize("path", ["/api/customers/", "/api/audit-events/", "/api/orders/", "/api/sync-runs/"])
@pytest.mark.parametrize("position", ["1' OR 1=1--", "x" * 40, HUGE, "2026-13-45T99:99:99"])
def test_a_crafted_cursor_is_an_invalid_cursor_not_a_crash(ops_api, path, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    error = _error(ops_api.get(path, {"cursor": cursor}), 404, "not_found")
    assert error["message"] == "Invalid cursor"


def _date_filtered_lists() -> list[tuple[str, str]]:
    from api.filtering import DATETIME_FILTERS, _param_names
    from tests.security.urlmap import urls

    found = []
    for url, name in urls():
        if not (name or "").endswith("-list"):
            continue
        from django.urls import resolve

        view = resolve(url).func
        filterset = getattr(getattr(view, "cls", None), "filterset_class", None)
        if filterset is None:
            continue
        for param, declared in _param_names(filterset).items():
            if isinstance(declared, DATETIME_FILTERS):
                found.append((url, param))
    return found


def test_every_date_filter_refuses_an_offset_of_a_day_or_more(ops_api):
    lists = _date_filtered_lists()
    assert len(lists) >= 8
    for url, param in lists:
        for offset in ("+99:00", "+24:00", "-24:00"):
            error = _error(ops_api.get(url, {param: f"2026-01-01T00:00:00{offset}"}), 400, "invalid")
            assert list(error["fields"]) == [param], (url, param, error)


def test_an_offset_under_a_day_is_still_accepted(ops_api):
    assert ops_api.get("/api/orders/", {"created_after": "2026-01-01T00:00:00+23:59"}).status_code == 200


def test_a_body_over_the_limit_is_413_in_the_error_shape(ops_api, settings):
    body = json.dumps({"external_id": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 500_000)})
    response = ops_api.post("/api/customers/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    _error(response, 413, "request_too_large")


# --- Unknown query parameters ---------------------------------------------------------------------


def test_a_misspelt_filter_is_refused_naming_the_allowed_ones(ops_api, some_customer):
    error = _error(ops_api.get("/api/customers/", {"custmer": "5"}), 400, "invalid")
    assert list(error["fields"]) == ["custmer"]
    [message] = error["fields"]["custmer"]
    assert message.startswith("Unknown query parameter. Allowed: ")
    assert "cursor" in message and "ordering" in message and "page_size" in message and "status" in message


def test_every_list_refuses_an_unknown_parameter(ops_api):
    from tests.security.urlmap import urls

    lists = [url for url, name in urls() if (name or "").endswith("-list")]
    assert len(lists) >= 11
    for url in lists:
        error = _error(ops_api.get(url, {"no_such_filter": "1"}), 400, "invalid")
        assert list(error["fields"]) == ["no_such_filter"], url


# --- Huge ids on the admin's lists (SQLite has no 20-digit integers) ------------------------------


def _integer_lookups(model, model_admin) -> list[str]:
    params = {"id__in", "pk"}
    for field in model._meta.get_fields():
        if getattr(field, "many_to_one", False) and field.concrete:
            params.add(field.name)
    return sorted(params)


def test_huge_ids_on_every_admin_list_are_a_400_not_a_crash(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="violet-kettle-harbour-93"))
    checked = 0
    for model, model_admin in admin.site._registry.items():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for param in _integer_lookups(model, model_admin):
            for value in (HUGE, f"1,{HUGE}", "-" + HUGE):
                response = client.get(url, {param: value})
                assert response.status_code == 400, (url, param, value, response.status_code)
                checked += 1
            assert client.get(url, {param: "1"}).status_code in (200, 302), (url, param)
    assert checked >= 38 * 3


# --- Secrets and bounds on the admin's forms ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_refused_self_mode_onboarding_does_not_echo_the_private_key(operator_client, some_customer):
    private_key = "-----BEGIN PRIVATE KEY-----\nECHO-CANARY-" + uuid.uuid4().hex + "\n-----END PRIVATE KEY-----"
    response = operator_client.post(reverse("admin:customers_customer_onboard", args=[some_customer.pk]), {
        "exchange": "kalshi", "mode": "self", "private_key": private_key, "clob_api_secret": "CLOB-ECHO-CANARY",
    })
    assert response.status_code == 200
    assert b"needs" in response.content  # refused: Kalshi's key id is missing
    page = response.content.decode()
    assert "ECHO-CANARY" not in page
    assert "CLOB-ECHO-CANARY" not in page


@pytest.mark.parametrize("value", [1_000_001, 2_147_483_648, 0])
def test_the_admin_qps_form_has_the_apis_bounds(operator_client, some_customer, value):
    before = some_customer.qps_limit
    response = operator_client.post(reverse("admin:customers_customer_qps_limit", args=[some_customer.pk]),
                                     {"qps_limit": str(value), "reason": "bounds"})
    assert response.status_code == 200
    assert re.search(rb"Ensure this value is (less|greater) than or equal to (1000000|1)", response.content)
    some_customer.refresh_from_db()
    assert some_customer.qps_limit == before
    assert not AuditEvent.objects.filter(action="customer.qps_limit").exists()


@pytest.mark.django_db(transaction=True)
def test_the_qps_service_refuses_past_the_bound_whoever_calls_it(some_customer, operator):
    from customers import services

    with pytest.raises(services.EndUserError) as refused:
        services.update_qps_limit(actor=operator, customer=some_customer, qps_limit=1_000_001)
    assert refused.value.code == "bad_qps_limit"


def test_the_api_qps_bound_is_the_admins(ops_api, some_customer):
    response = ops_api.post(f"/api/customers/{some_customer.pk}/qps-limit/", {"qps_limit": 1_000_001},
                            format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    error = _error(response, 400, "invalid")
    assert error["fields"] == {"qps_limit": ["Ensure this value is less than or equal to 1000000."]}


# --- The reconcile endpoint's reason, and extra credential fields in the schema --------------------------


@pytest.fixture
def placed_intent(some_customer):
    from orders.models import Market, OrderIntent

    market = Market.objects.create(parsec_id="sec-market", exchange="polymarket", exchange_market_id="sec-market")
    return OrderIntent.objects.create(customer=some_customer, exchange="polymarket", market=market, market_native_id="sec-market",
                                      outcome="Yes", side="buy", price="0.50", size="10", status="not_placed")


@pytest.mark.django_db(transaction=True)
def test_the_reconcile_endpoint_records_its_reason(ops_api, placed_intent):
    response = ops_api.post(f"/api/order-intents/{placed_intent.pk}/reconcile/", {"reason": "client says it never landed"},
                            format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="order.reconcile_requested")
    assert event.reason == "client says it never landed"
    assert event.request == {"intent": str(placed_intent.key)}
    assert event.actor_name == ops_api.token.identity


def test_the_reconcile_endpoint_validates_its_body(ops_api, placed_intent):
    response = ops_api.post(f"/api/order-intents/{placed_intent.pk}/reconcile/", {"reason": 5},
                            format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert _error(response, 400, "invalid")["fields"] == {"reason": ["Not a valid string."]}


def test_the_schema_refuses_extra_credential_fields_as_the_server_does(ops_api):
    schema = ops_api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    components = json.loads(schema.content)["components"]["schemas"]
    assert components["CredentialsRequest"]["additionalProperties"] is False


# --- Content-Security-Policy --------------------------------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_every_page_carries_a_policy_without_inline_scripts(operator_client):
    for path in ("/admin/login/", "/admin/", "/admin/customers/customer/", "/api/docs/"):
        policy = _policy(operator_client.get(path))
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["default-src"] == ["'self'"], path


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=\s*[\"']", re.IGNORECASE)


def test_our_pages_run_no_inline_script(operator_client, reviewer_client, some_customer):
    pages = [
        (operator_client, "/admin/"), (operator_client, f"/admin/customers/360/{some_customer.pk}/"),
        (operator_client, f"/admin/customers/customer/{some_customer.pk}/change/"), (operator_client, "/api/docs/"),
        (reviewer_client, f"/admin/compliance/alert/statement/{some_customer.pk}/?month=2026-01&format=html"),
        (reviewer_client, f"/admin/compliance/alert/export/{some_customer.pk}/"),
    ]
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html).group(0))
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html).group(0))



@pytest.mark.parametrize(("action", "allowed"), [("resolving-soon", ["days"]), ("{id}/trades", ["limit", "outcome"]),
                                                  ("{id}/price-history", ["interval", "outcome"])])
def test_a_market_action_lists_its_own_parameters_alone_and_refuses_anything_else(ops_api, action, allowed):
    """schemathesis (PostgreSQL pass) sent ?ordering=<garbage> to resolving-soon and got 200: the schema
    listed the markets list's filters, paging and ordering on the market actions, which never read them."""
    from orders.models import Market

    schema = ops_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"][f"/api/markets/{action}/"]["get"]
    assert sorted(p["name"] for p in operation["parameters"] if p["in"] == "query") == allowed
    market = Market.objects.create(parsec_id="kalshi:PARAMS-1", exchange="kalshi", exchange_market_id="PARAMS-1",
                                   order_market_id="PARAMS-1", question="Params?", status="active")
    url = f"/api/markets/{action.replace('{id}', str(market.pk))}/"
    for name in ("ordering", "cursor", "status"):
        error = _error(ops_api.get(url, {name: "\x05x"}), 400, "invalid")
        assert error["fields"] == {name: [f"Unknown query parameter. Allowed: {', '.join(allowed)}."]}
