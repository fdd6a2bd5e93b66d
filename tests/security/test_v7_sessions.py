"""ASVS V7 (session management): a session that has not passed the second factor can do nothing
but enrol or sign out, on every face; signing out always ends the session; API answers are
never stored by a cache."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.staff import ENROL, code, password_only_session, sign_in
from tests.security.urlmap import urls

pytestmark = pytest.mark.django_db

# What a password-only session may open: enrolment, sign-out, the login page and its translations.
OPEN_BEFORE_SECOND_FACTOR = {"admin:otp_enrol", "admin:logout", "admin:login", "admin:jsi18n"}


@pytest.fixture
def otp_required(settings):
    settings.OTP_REQUIRED = True


def _second_factor_refusal(response) -> None:
    assert response.status_code == 403, response.status_code
    assert response.json()["error"]["code"] == "second_factor_required"


def test_a_password_only_session_reaches_nothing_but_enrolment_anywhere_in_the_url_map(
        client, otp_required, operator, some_customer):
    password_only_session(client, operator)
    checked = 0
    for url, name in urls():
        if name in OPEN_BEFORE_SECOND_FACTOR:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if url.startswith("/api/"):
                _second_factor_refusal(response)
            else:
                assert response.status_code == 302, (method, url, response.status_code)
                assert response["Location"] == ENROL, (method, url, response["Location"])
            checked += 1
    assert checked > 400
    assert client.get(ENROL).status_code == 200


def test_a_password_only_session_with_a_device_is_sent_back_to_the_code(client, otp_required, operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    sign_in(client, operator.get_username())  # no code: the form refuses, the session stays anonymous
    assert client.get("/api/whoami/").status_code == 401
    # A session signed in before the device was confirmed (enrolled elsewhere meanwhile).
    client.force_login(operator)
    response = client.get("/admin/orders/order/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    _second_factor_refusal(client.get("/api/whoami/"))


def test_the_second_factor_opens_the_api_to_the_same_session(client, otp_required, operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    assert sign_in(client, operator.get_username(), token=code(device)).status_code == 302
    response = client.get("/api/whoami/")
    assert response.status_code == 200 and response.json()["kind"] == "session"


def test_signing_out_before_enrolling_ends_the_session(client, otp_required, operator):
    password_only_session(client, operator)
    old_key = client.session.session_key
    response = client.post("/admin/logout/")
    assert response.status_code == 200
    assert response.cookies["sessionid"].value == ""  # the cookie is cleared
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=old_key).exists()
    assert client.get("/api/whoami/").status_code == 401
    # The old cookie, replayed, is no session at all.
    replay = Client()
    replay.cookies["sessionid"] = old_key
    assert replay.get("/api/whoami/").status_code == 401


def test_signing_out_works_for_a_verified_session_too(client, otp_required, operator):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    sign_in(client, operator.get_username(), token=code(device))
    assert client.post("/admin/logout/").status_code == 200
    assert client.get("/api/whoami/").status_code == 401


@pytest.mark.parametrize("path, status", [
    ("/api/whoami/", 200), ("/api/customers/", 200), ("/api/customers/999999/", 404), ("/api/nowhere/", 404),
])
def test_api_answers_are_never_stored_by_a_cache(ops_api, path, status):
    response = ops_api.get(path)
    assert response.status_code == status
    assert "no-store" in response["Cache-Control"].split(", ")


def test_an_anonymous_api_refusal_is_not_stored_either(anon_api):
    response = anon_api.get("/api/customers/")
    assert response.status_code == 401
    assert "no-store" in response["Cache-Control"].split(", ")
