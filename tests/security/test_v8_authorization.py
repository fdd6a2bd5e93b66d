"""ASVS V8 (authorization): the second factor guards the API exactly as it guards the admin, and
every write checks its permission on its own, whatever face it is reached by."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.security.staff import password_only_session

pytestmark = pytest.mark.django_db

IDEMPOTENT = {"HTTP_IDEMPOTENCY_KEY": "sec-0001", "content_type": "application/json"}


@pytest.fixture
def otp_required(settings):
    settings.OTP_REQUIRED = True


@pytest.fixture
def password_only(client, otp_required, operator):
    password_only_session(client, operator)
    return client


def _refused(response) -> None:
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert response.json()["error"]["code"] == "second_factor_required"


def test_a_password_only_session_cannot_place_an_order(password_only, some_customer):
    from orders.models import OrderIntent

    body = {"customer": str(some_customer.pk), "market": "m", "outcome": "YES", "side": "buy", "price": "0.5",
            "size": "10", "order_type": "limit", "reason": "second factor bypass"}
    _refused(password_only.post("/api/order-intents/place/", body, **IDEMPOTENT))
    assert not OrderIntent.objects.exists()


def test_a_password_only_session_cannot_change_a_qps_limit(password_only, some_customer):
    before = some_customer.qps_limit
    _refused(password_only.post(f"/api/customers/{some_customer.pk}/qps-limit/", {"qps_limit": 50}, **IDEMPOTENT))
    some_customer.refresh_from_db()
    assert some_customer.qps_limit == before


@pytest.mark.parametrize("path", ["/api/whoami/", "/api/docs/", "/api/schema/", "/api/audit-events/"])
def test_a_password_only_session_reads_nothing_from_the_api(password_only, path):
    _refused(password_only.get(path))


MIDDLEWARE_WITHOUT_THE_GATE = [m for m in __import__("django.conf").conf.settings.MIDDLEWARE
                               if m != "backoffice.middleware.SecondFactorMiddleware"]


def test_api_session_authentication_refuses_an_unverified_session_on_its_own(password_only):
    """Defence in depth: even with the site-wide gate removed, DRF's session authentication
    itself does not accept a session that has not passed the second factor."""
    with override_settings(MIDDLEWARE=MIDDLEWARE_WITHOUT_THE_GATE):
        client = Client()  # a new client loads the middleware anew
        client.cookies = password_only.cookies
        response = client.get("/api/whoami/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
