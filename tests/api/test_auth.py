"""Who may call the API: tokens bound to a role, staff sessions, nobody else."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.tokens import revoke_token

pytestmark = pytest.mark.django_db


def test_anonymous_call_gets_401_in_the_error_shape(anon_api):
    response = anon_api.get("/api/whoami/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_authenticates_as_its_service_account_with_its_role(ops_api):
    body = ops_api.get("/api/whoami/").json()
    assert body == {"username": ops_api.token.service_user.username, "kind": "token", "token_name": "ops-tool", "roles": ["Operations"]}


def test_only_a_hash_and_a_prefix_are_stored(issue):
    token, plain = issue("Compliance")
    row = ApiToken.objects.values().get(pk=token.pk)
    assert plain not in str(row)
    assert plain.split("_", 2)[2] not in str(row)
    assert row["prefix"] in plain and len(row["token_hash"]) == 64


@pytest.mark.parametrize("header", ["Bearer pbo_deadbeef_wrong", "Bearer nonsense", "Token", "Bearer a b"])
def test_a_bad_token_gets_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/whoami/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_right_prefix_with_a_wrong_secret_is_refused(issue):
    token, plain = issue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer pbo_{token.prefix}_{'x' * 43}")
    assert client.get("/api/whoami/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/whoami/").status_code == 200


def test_a_revoked_token_stops_working_at_once(ops_api, administrator):
    assert ops_api.get("/api/whoami/").status_code == 200
    revoke_token(token=ops_api.token, revoked_by=administrator)
    response = ops_api.get("/api/whoami/")
    assert response.status_code == 401
    assert ops_api.token.revoked_by == administrator


def test_an_expired_token_is_refused(issue):
    from api.models import ApiToken

    token, plain = issue(expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))  # its time passed
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert client.get("/api/whoami/").status_code == 401


def test_staff_session_works_and_staff_without_a_role_is_refused(client, operator, django_user_model):
    client.force_login(operator)
    assert client.get("/api/whoami/").json()["kind"] == "session"
    nobody = django_user_model.objects.create_user("no.role", password="x" * 12, is_staff=True)
    client.force_login(nobody)
    response = client.get("/api/whoami/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_each_token_has_its_own_throttle_budget(issue):
    _, slow_plain = issue(throttle_rate="3/min")
    _, other_plain = issue(throttle_rate="3/min")
    slow, other = APIClient(), APIClient()
    slow.credentials(HTTP_AUTHORIZATION=f"Bearer {slow_plain}")
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_plain}")
    assert [slow.get("/api/whoami/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = slow.get("/api/whoami/")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert other.get("/api/whoami/").status_code == 200


def test_no_api_route_answers_an_anonymous_caller_whatever_the_method(anon_api):
    from django.urls import get_resolver

    from tests.api.routes import api_routes

    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    routes = {r.replace("{id}", "1").replace("{seq}", "1") for r in api_routes(api.url_patterns) if "[" not in r}
    assert len(routes) >= 15
    for route in routes:
        url = route.rstrip("/") + "/"
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(anon_api, method)(url)
            if url == "/api/docs/":
                assert response.status_code == 302 and "login" in response["Location"]
                continue
            assert response.status_code == 401, (method, url, response.status_code)
            # The schema endpoint speaks OpenAPI's media types (YAML by default); the shape is the same.
            assert yaml.safe_load(response.content)["error"]["code"] == "not_authenticated", (method, url)
