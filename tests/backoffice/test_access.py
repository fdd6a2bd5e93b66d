"""Login is required everywhere, and each role may do only its job."""

import json
import uuid

import pytest
from django.contrib.auth.models import Group

from tests.security.urlmap import concrete, urls, walk

pytestmark = pytest.mark.django_db

# Public by design: the login page and the static pieces it needs.
PUBLIC = {"admin:login", "admin:jsi18n"}


def test_every_url_refuses_an_anonymous_visitor(client):
    checked = 0
    for url, name in urls():
        if name in PUBLIC:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if url.startswith("/api/") and name != "api:docs":
                # DRF answers for itself: 401 with the token scheme, in the API's error shape.
                assert response.status_code == 401, (method, url, response.status_code)
                if response["Content-Type"] == "application/json":  # the schema answers in its own format
                    assert json.loads(response.content)["error"]["code"] == "not_authenticated", (method, url)
                assert response["WWW-Authenticate"] == 'Bearer realm="api"', (method, url)
            else:
                # Pages for people (the API viewer too): to the login page, coming back here after.
                assert response.status_code == 302, (method, url, response.status_code)
                assert response["Location"].startswith("/admin/login/?next="), (method, url, response["Location"])
            checked += 1
    assert checked > 400


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
    for changelist in ("/admin/customers/customer/", "/admin/orders/order/", "/admin/audit/auditevent/"):
        assert changelist not in response.content.decode(), changelist
        assert client.get(changelist).status_code == 403


# --- Compliance writes nothing, whatever model or page is added later ------------------------

# Review records are the one thing Compliance may write (issue 2, "Roles").
COMPLIANCE_WRITES = {"compliance.alert", "compliance.review"}
# Standard admin pages; everything else under /admin/ is a custom view.
STANDARD_ADMIN_NAMES = ("_changelist", "_add", "_change", "_delete", "_history", "_autocomplete")
NOT_WRITES = {"admin:index", "admin:login", "admin:logout", "admin:jsi18n", "admin:app_list", "admin:view_on_site",
              "admin:autocomplete", "admin:password_change", "admin:password_change_done", "admin:otp_enrol",
              "admin:search",  # unfold's sidebar search: a read
              # django-otp's device pages show a QR code (reads; they 500 on a missing pk, a django-otp quirk)
              "admin:otp_totp_totpdevice_config", "admin:otp_totp_totpdevice_qrcode"}


def _row_counts() -> dict[str, int]:
    from django.apps import apps
    from django.db import router

    skip = {"sessions", "axes", "admin", "otp_totp", "otp_static"}
    # Reading from Parsec (a page that shows live data) leaves call-log and limiter rows: bookkeeping, not writes.
    bookkeeping = {"parsec.OutboundCall", "parsec.RateBucket"}
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label not in skip and model._meta.label not in bookkeeping and router.db_for_write(model) == "default" and not model._meta.proxy
    }


@pytest.fixture
def some_rows(operator):
    """At least one row behind the models every admin page is about, so change/delete URLs resolve."""
    from audit.services import record_action
    from customers.models import Customer

    customer = Customer.objects.create(parsec_customer_id=uuid.uuid4(), external_id="access-ext")
    record_action(actor=operator, action="customer.deactivate", customer=customer, outcome="ok")
    return customer


@pytest.fixture
def page_rows(some_rows, operator):
    """A row behind each custom page's id (an intent, an approval request, a sync run)."""
    from datetime import timedelta
    from types import SimpleNamespace

    from django.utils import timezone

    from approvals.models import ApprovalRequest
    from orders.models import Market, OrderIntent
    from sync.models import SyncRun

    customer = some_rows
    market = Market.objects.create(parsec_id="access-market", exchange="polymarket", exchange_market_id="access-market")
    intent = OrderIntent.objects.create(
        key=uuid.uuid4(), customer=customer, exchange="polymarket", market=market, market_native_id="access-market",
        outcome="Yes", side="buy", price="0.50", size="10", created_by=operator,
    )
    approval = ApprovalRequest.objects.create(action="customer.deactivate", customer=customer, requested_by=operator,
                                              expires_at=timezone.now() + timedelta(hours=1))
    run = SyncRun.objects.create(kind="customer", customer=customer)
    return SimpleNamespace(customer=customer, intent=intent, approval=approval, run=run)


def test_compliance_gets_403_on_every_add_change_and_delete(reviewer_client, reviewer, some_rows, rf):
    from django.contrib import admin
    from django.urls import reverse

    request = rf.get("/admin/")
    request.user = reviewer
    before = _row_counts()
    checked = 0
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if label in COMPLIANCE_WRITES:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        obj = model._default_manager.order_by("pk").first()
        assert not model_admin.has_add_permission(request), label
        assert not model_admin.has_change_permission(request, obj), label
        assert not model_admin.has_delete_permission(request, obj), label
        add = reverse("admin:{}_{}_add".format(*info))
        assert reviewer_client.get(add).status_code == 403, label
        assert reviewer_client.post(add, {}).status_code == 403, label
        if obj is not None:
            assert reviewer_client.post(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]), {}).status_code == 403, label
            assert reviewer_client.post(reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), {"post": "yes"}).status_code == 403, label
        checked += 1
    assert checked >= 10
    assert _row_counts() == before


def test_compliance_has_no_admin_action_and_posting_one_changes_nothing(reviewer_client, reviewer, some_rows, rf):
    from django.contrib import admin
    from django.urls import reverse

    request = rf.get("/admin/")
    request.user = reviewer
    before = _row_counts()
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if label in COMPLIANCE_WRITES:
            continue
        listed = model_admin.has_view_or_change_permission(request)
        if listed:  # a list Compliance can open offers it no action
            assert not model_admin.get_actions(request), (label, list(model_admin.get_actions(request)))
        names = {getattr(a, "__name__", a) for a in (model_admin.actions or [])} | {"delete_selected"}
        obj = model._default_manager.order_by("pk").first()
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in names:
            response = reviewer_client.post(url, {"action": name, "_selected_action": [obj.pk] if obj else [], "post": "yes"})
            assert response.status_code in ((200, 302) if listed else (403,)), (label, name, response.status_code)
    assert _row_counts() == before


# Custom pages that only read, with what a POST to them answers; every other custom page is a write
# and refuses Compliance with 403 before looking at the body.
READ_PAGES = {
    "admin:orders_feeescrowrecord_configuration": (200, ""),
    "admin:orders_feeescrowrecord_escrow_configuration": (302, "/admin/orders/feeescrowrecord/configuration/"),
    "admin:orders_orderintent_detail": (200, ""),
    "admin:orders_orderintent_state": (200, ""),
    "admin:orders_market_resolving_soon": (200, ""),
    "admin:sync_syncrun_progress": (200, ""),
}


def _url_with_rows(route: str, rows) -> str:
    """The page's URL with the ids of real rows (a missing row would answer 404 before the check)."""
    route = route.replace("approvalrequest/<int:pk>", f"approvalrequest/{rows.approval.pk}")
    route = route.replace("syncrun/<int:object_id>", f"syncrun/{rows.run.pk}").replace("<path:object_id>", str(rows.customer.pk))
    route = route.replace("<uuid:key>", str(rows.intent.key)).replace("<int:object_id>", str(rows.customer.pk))
    route = route.replace("<int:pk>", "1").replace("<int:customer_id>", str(rows.customer.pk))
    return concrete(route)


def test_compliance_posting_to_every_custom_admin_page_writes_nothing(reviewer_client, page_rows):
    before = _row_counts()
    checked = 0
    for route, name in walk():
        if not (name or "").startswith("admin:") or name in NOT_WRITES or name.endswith(STANDARD_ADMIN_NAMES):
            continue
        if any(name.startswith(f"admin:{label.replace('.', '_')}_") for label in COMPLIANCE_WRITES):
            continue
        url = _url_with_rows(route, page_rows)
        response = reviewer_client.post(url, {})
        expected = READ_PAGES.get(name, (403, ""))
        assert (response.status_code, response.get("Location", "")) == expected, (name, url, response.status_code)
        checked += 1
    assert checked >= 25
    assert _row_counts() == before


# --- Staff users ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona, allowed", [("administrator", True), ("operator", False), ("reviewer", False)])
def test_only_administrators_manage_staff_users_and_groups(client, request, persona, allowed):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    for url in ("/admin/auth/user/add/", "/admin/auth/group/add/", f"/admin/auth/user/{user.pk}/change/"):
        assert client.get(url).status_code == (200 if allowed else 403), (persona, url)
    created = client.post("/admin/auth/user/add/", {
        "username": "new.staff", "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase",
        "usable_password": "true",
    })
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(username="new.staff").exists() is allowed, created.status_code
