"""The schema describes every endpoint completely; tokens are issued, shown once, and revoked in the admin."""

from __future__ import annotations

import pytest
import yaml
from django.urls import get_resolver

from api.models import ApiToken
from audit.models import AuditEvent
from tests.api.routes import api_routes

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
def schema(ops_api):
    response = ops_api.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_needs_a_role(anon_api, client, django_user_model):
    assert anon_api.get("/api/schema/").status_code == 401
    nobody = django_user_model.objects.create_user("no.role.schema", password="x" * 12, is_staff=True)
    client.force_login(nobody)
    assert client.get("/api/schema/").status_code == 403


def test_every_api_route_is_in_the_schema(schema):
    documented = {path.rstrip("/") for path in schema["paths"]}
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/":
            for route in api_routes(pattern.url_patterns):
                routes.add(route)
    undocumented = {r for r in routes if r not in documented and not r.endswith(("/schema", "/docs")) and "[" not in r}
    assert not undocumented, undocumented
    assert len(documented) >= 20


def test_every_operation_documents_its_errors_and_every_write_its_idempotency_key(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", *WRITES):
                continue
            codes = set(operation["responses"])
            assert {"400", "401", "403", "429"} <= codes, (method, path, codes)
            if method in WRITES:
                assert {"409", "422"} <= codes, (method, path, codes)
                headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
                assert headers["Idempotency-Key"]["required"] is True, (method, path)
            assert operation.get("security"), (method, path)
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
            assert error.endswith("/Error")


def test_the_interactive_docs_need_a_login_and_serve_swagger_locally(client, operator):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(operator)
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower()


def test_an_administrator_issues_a_token_that_is_shown_once(client, administrator):
    client.force_login(administrator)
    response = client.post("/admin/api/apitoken/add/", {"name": "reporting tool", "role": "Compliance", "throttle_rate": ""})
    assert response.status_code == 200
    page = response.content.decode()
    token = ApiToken.objects.get(name="reporting tool")
    plain = page.split('id="issued-token"')[1].split(">", 1)[1].split("<", 1)[0].strip()
    assert plain.startswith(f"pbo_{token.prefix}_")
    assert "no-store" in response["Cache-Control"]
    assert token.service_user.groups.get().name == "Compliance"
    detail = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert plain not in detail
    event = AuditEvent.objects.get(action="api_token.issue")
    assert plain not in str(event.request) and event.actor_name == administrator.username

    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert api.get("/api/whoami/").json()["roles"] == ["Compliance"]
    client.post("/admin/api/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]})
    assert api.get("/api/whoami/").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoke").exists()


def test_a_bad_throttle_rate_is_a_form_error(client, administrator):
    client.force_login(administrator)
    response = client.post("/admin/api/apitoken/add/", {"name": "x", "role": "Operations", "throttle_rate": "lots"})
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert "600/min" in response.content.decode()


@pytest.mark.parametrize("persona", ["operator", "reviewer"])
def test_operations_and_compliance_cannot_manage_tokens(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/admin/api/apitoken/add/").status_code == 403
