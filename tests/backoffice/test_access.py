"""Login is required everywhere, and each role may do only its job."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Public by design: the login page and the static pieces it needs.
PUBLIC = {"admin:login", "admin:jsi18n"}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}" if entry.name else None


def _concrete(route: str) -> str:
    """Turn a route pattern (path() or regex) into a URL, filling every parameter."""
    route = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
    route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route)
    route = re.sub(r"<(?:int:)?[a-z_]*>", "1", route)
    route = re.sub(r"<[a-z]+:[a-z_]+>", "x", route)
    route = route.replace("\\.", ".").replace("/?", "/")
    return "/" + re.sub(r"[\^$?]", "", route)


def test_every_url_refuses_an_anonymous_visitor(client):
    checked = 0
    for route, name in _walk(get_resolver().url_patterns):
        if name in PUBLIC:
            continue
        url = _concrete(route)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (301, 302, 401, 403, 404, 405), (method, url, response.status_code)
            if response.status_code in (301, 302):
                assert "login" in response["Location"] or response["Location"].rstrip("/").endswith("/admin"), (url, response["Location"])
            checked += 1
    assert checked > 20


def test_the_three_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Operations", "Compliance", "Administrators"}


def test_compliance_reads_but_has_no_add_change_or_delete_permission(reviewer):
    perms = {p.codename for p in Group.objects.get(name="Compliance").permissions.all()}
    assert perms, "Compliance can read the mirror"
    writes = {p for p in perms if p.startswith(("add_", "change_", "delete_"))}
    assert writes <= {"add_review", "change_review", "change_alert"}, writes


def test_staff_without_a_role_sees_an_empty_admin(client, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x" * 12, is_staff=True)
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
