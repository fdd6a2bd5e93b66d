"""Staff sign-in: TOTP where required, self-service enrolment, lockout, production settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"  # the personas' password (tests/conftest.py)
LOGIN = "/admin/login/"
PAGE = "/admin/audit/auditevent/"  # any admin page every role may open


def code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + offset):06d}"


@pytest.fixture
def otp_required(settings):
    settings.OTP_REQUIRED = True


@pytest.fixture
def enrolled(operator):
    return TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)


def sign_in(client, username="olivia.operator", password=PASSWORD, token=None):
    data = {"username": username, "password": password, "next": "/admin/"}
    if token is not None:
        data["otp_token"] = token
    return client.post(LOGIN, data)


def test_the_login_page_renders_the_code_field_only_when_required(client, settings):
    settings.OTP_REQUIRED = False
    assert b'name="otp_token"' not in client.get(LOGIN).content
    settings.OTP_REQUIRED = True
    assert b'name="otp_token"' in client.get(LOGIN).content


def test_without_otp_required_the_password_is_enough(client, operator, settings):
    settings.OTP_REQUIRED = False
    assert sign_in(client)["Location"] == "/admin/"
    assert client.get(PAGE).status_code == 200


def test_an_enrolled_user_without_a_code_is_refused(client, otp_required, enrolled):
    page = sign_in(client)
    assert page.status_code == 200 and b"Please enter your OTP token" in page.content
    assert client.get(PAGE).status_code == 302


def test_a_wrong_code_is_refused(client, otp_required, enrolled):
    wrong = f"{(int(code(enrolled)) + 1) % 1_000_000:06d}"
    page = sign_in(client, token=wrong)
    assert page.status_code == 200 and b"Invalid token" in page.content
    assert client.get(PAGE).status_code == 302


def test_the_right_code_enters(client, otp_required, enrolled):
    assert sign_in(client, token=code(enrolled))["Location"] == "/admin/"
    assert client.get(PAGE).status_code == 200


def test_a_staff_member_without_a_device_only_reaches_enrolment_and_enrols(client, otp_required, operator, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the deliberate wrong code below
    sign_in(client)
    assert client.get(PAGE)["Location"] == reverse("admin:otp_enrol")  # not verified: no admin page
    assert client.get(LOGIN)["Location"] == reverse("admin:otp_enrol")
    orders = client.get("/admin/orders/order/")
    assert orders.status_code == 302 and orders["Location"] == reverse("admin:otp_enrol")

    page = client.get(reverse("admin:otp_enrol"))
    assert page.status_code == 200 and b"<svg" in page.content and b'id="otp-key"' in page.content
    device = TOTPDevice.objects.get(user=operator, confirmed=False)

    refused = client.post(reverse("admin:otp_enrol"), {"otp_token": "000000" if code(device) != "000000" else "111111"})
    assert refused.status_code == 200 and b"does not match" in refused.content
    assert not TOTPDevice.objects.filter(user=operator, confirmed=True).exists()

    assert client.post(reverse("admin:otp_enrol"), {"otp_token": code(device)})["Location"] == reverse("admin:index")
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(PAGE).status_code == 200  # this session passed the code
    assert AuditEvent.objects.filter(action="staff.otp_enrol", actor=operator, outcome="ok").exists()

    client.logout()
    sign_in(client)  # from now on the password alone is not enough
    assert client.get(PAGE).status_code == 302


def test_wrong_codes_at_enrolment_are_throttled(client, otp_required, operator):
    sign_in(client)
    client.get(reverse("admin:otp_enrol"))
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    wrong = f"{(int(code(device)) + 1) % 1_000_000:06d}"
    client.post(reverse("admin:otp_enrol"), {"otp_token": wrong})
    throttled = client.post(reverse("admin:otp_enrol"), {"otp_token": code(device)})
    assert b"Too many wrong codes" in throttled.content
    device.refresh_from_db()
    assert not device.confirmed


def test_an_enrolled_but_unverified_session_cannot_replace_the_device(client, otp_required, enrolled):
    sign_in(client)
    response = client.get(reverse("admin:otp_enrol"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_repeated_failures_lock_out_even_the_right_password(client, operator, settings):
    settings.OTP_REQUIRED = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, password="wrong-password-123")
    locked = sign_in(client)
    assert locked.status_code == 429
    assert b"Sign-in locked" in locked.content and b"olivia.operator" in locked.content
    assert client.get(PAGE).status_code == 302


def test_wrong_codes_count_towards_the_lockout(client, otp_required, enrolled, settings):
    wrong = f"{(int(code(enrolled)) + 1) % 1_000_000:06d}"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, token=wrong)
    assert sign_in(client, token=code(enrolled)).status_code == 429


# --- The production shape -------------------------------------------------------------------


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "AUDIT_", "OTP_REQUIRED", "INSECURE_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "k3y-" + "x9Qz!" * 12 + str(time.time_ns()),
    "AUDIT_CHAIN_KEY": "ch41n-" + "Rw7#p" * 10 + str(time.time_ns()),
    "ALLOWED_HOSTS": "backoffice.example.com",
    "PARSEC_API_KEY": "pk_live_example",
    "DATABASE_URL": "sqlite:////tmp/backoffice-check-deploy.sqlite3",
}


def test_check_deploy_is_clean_in_production(sandbox):
    # Production reads the fee escrow from a chain: here the sandbox's, which check --deploy verifies.
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env={**PRODUCTION_ENV, "ESCROW_RPC_URL": f"{sandbox.base_url}/_chain"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_secret_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_ENV=production needs these environment variables: SECRET_KEY" in result.stderr
