from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def issue(db):
    """Issue a token for a role; returns (ApiToken, plain token)."""
    from api.tokens import issue_token

    def _issue(role: str = "Operations", **kwargs):
        return issue_token(name=kwargs.pop("name", f"tool-{uuid.uuid4().hex[:6]}"), role=role, **kwargs)

    return _issue


def _client(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


@pytest.fixture
def ops_api(issue):
    token, plain = issue("Operations", name="ops-tool")
    client = _client(plain)
    client.token = token
    return client


@pytest.fixture
def compliance_api(issue):
    token, plain = issue("Compliance", name="compliance-tool")
    client = _client(plain)
    client.token = token
    return client


@pytest.fixture
def anon_api():
    return APIClient()


def new_key() -> str:
    return str(uuid.uuid4())


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    """Throttle counters live in the cache; a test must not inherit another's budget."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
