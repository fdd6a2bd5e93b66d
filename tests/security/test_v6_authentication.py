"""ASVS V6 (authentication): passwords worth the name, lockouts an attacker cannot sidestep by
switching accounts or addresses, tokens that cannot be born expired, and a production that will
not start with its guards down."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from tests.security.staff import PASSWORD, sign_in

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


# --- Passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize("username, password", [
    ("operator2", "operator2operator2"),                        # the username twice (was accepted)
    ("olivia.operator", "xx-olivia.operator-with-a-long-tail-2026"),  # contains the username
    ("olivia.operator", "Operator-Olivia-26"),                   # close to the username
    ("someone", "short-pw-1"),                                   # under 12 characters
    ("someone", "password1234"),                                 # a common password
])
def test_weak_passwords_are_refused(django_user_model, username, password):
    user = django_user_model(username=username)
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_unrelated_passphrase_is_accepted(django_user_model):
    validate_password("violet-kettle-harbour-93", django_user_model(username="operator2"))


def test_an_administrator_cannot_give_a_staff_member_their_username_as_password(client, administrator, django_user_model):
    client.force_login(administrator)
    response = client.post("/admin/auth/user/add/", {
        "username": "operator2", "password1": "operator2operator2", "password2": "operator2operator2",
        "usable_password": "true",
    })
    assert response.status_code == 200
    assert not django_user_model.objects.filter(username="operator2").exists()


# --- Lockout --------------------------------------------------------------------------------------


def _fail(client, username: str, **meta):
    return sign_in(client, username, password="wrong-password-123", **meta)


def test_one_account_is_locked_whichever_addresses_the_guesses_come_from(client, operator, settings):
    settings.OTP_REQUIRED = False
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "olivia.operator", REMOTE_ADDR=f"198.51.100.{n + 1}")
    locked = sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.200")
    assert locked.status_code == 429


def test_one_address_is_locked_whichever_accounts_it_guesses(client, operator, settings):
    settings.OTP_REQUIRED = False
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, f"someone-{n}", REMOTE_ADDR="198.51.100.7")
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.7").status_code == 429
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.8").status_code == 302


def test_behind_the_proxy_a_forged_forwarded_for_does_not_dodge_the_lockout(client, operator, settings):
    settings.OTP_REQUIRED = False
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(settings.AXES_FAILURE_LIMIT):
        # The client forges a new leftmost address each time; the proxy appends the real one.
        _fail(client, f"someone-{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.9", **proxy)
    assert sign_in(client, "olivia.operator", HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.9", **proxy).status_code == 429


def test_behind_the_proxy_other_clients_are_not_locked_with_one(client, operator, settings):
    settings.OTP_REQUIRED = False
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, f"someone-{n}", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert sign_in(client, "olivia.operator", HTTP_X_FORWARDED_FOR="203.0.113.10", **proxy).status_code == 302


def test_a_lockout_is_audited(client, operator, settings):
    settings.OTP_REQUIRED = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "olivia.operator", REMOTE_ADDR="198.51.100.5")
    event = AuditEvent.objects.filter(action="staff.locked_out").order_by("seq").first()
    assert event is not None
    assert event.request == {"username": "olivia.operator", "ip_address": "198.51.100.5"}
    assert event.outcome == "rejected"


def test_an_administrator_unlocks_from_the_admin_and_it_is_audited(client, operator, administrator, settings):
    from axes.models import AccessAttempt

    settings.OTP_REQUIRED = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "olivia.operator", REMOTE_ADDR="198.51.100.5")
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.5").status_code == 429

    admin_client = type(client)()
    admin_client.force_login(administrator)
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = admin_client.post("/admin/axes/accessattempt/", {"action": "unlock_selected", "_selected_action": attempts})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    unlock = AuditEvent.objects.get(action="staff.unlock")
    assert (unlock.actor, unlock.outcome) == (administrator, "ok")
    assert {"username": "olivia.operator", "ip_address": "198.51.100.5"} in unlock.request["attempts"]
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.5").status_code == 302


@pytest.mark.parametrize(("command", "args", "recorded"), [
    ("axes_reset_username", ["olivia.operator"], {"username": ["olivia.operator"]}),
    ("axes_reset_ip", ["198.51.100.5"], {"ip": ["198.51.100.5"]}),
    ("axes_reset_ip_username", ["198.51.100.5", "olivia.operator"], {"ip": "198.51.100.5", "username": "olivia.operator"}),
    ("axes_reset", [], {}),
])
def test_an_unlock_from_the_command_line_is_audited(client, operator, settings, command, args, recorded):
    """django-axes' own reset commands wiped lockouts with no trace in the audit log."""
    import getpass
    import io

    from django.core.management import call_command

    settings.OTP_REQUIRED = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _fail(client, "olivia.operator", REMOTE_ADDR="198.51.100.5")
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.5").status_code == 429
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    assert out.getvalue().strip() == "1 attempts removed."
    unlock = AuditEvent.objects.get(action="staff.unlock")
    assert (unlock.actor, unlock.actor_name, unlock.outcome) == (None, f"cli:{getpass.getuser()}", "ok")
    assert unlock.request == {"command": command, **recorded}
    assert unlock.reason == f"Unlocked from the command line ({command}): 1 attempts removed."
    assert sign_in(client, "olivia.operator", REMOTE_ADDR="198.51.100.5").status_code == 302


def test_an_operator_cannot_unlock(client, operator, settings):
    settings.OTP_REQUIRED = False
    client.force_login(operator)
    assert client.get("/admin/axes/accessattempt/").status_code == 403


# --- API tokens -----------------------------------------------------------------------------------


def test_a_token_cannot_be_issued_already_expired(client, administrator):
    from api.models import ApiToken

    client.force_login(administrator)
    past = timezone.now() - timedelta(minutes=1)
    response = client.post("/admin/api/apitoken/add/", {
        "name": "born-expired", "role": "Operations", "expires_at_0": past.strftime("%Y-%m-%d"),
        "expires_at_1": past.strftime("%H:%M:%S"), "throttle_rate": "",
    })
    assert response.status_code == 200
    assert b"must be in the future" in response.content
    assert not ApiToken.objects.filter(name="born-expired").exists()


def test_the_token_service_refuses_an_expiry_in_the_past():
    from api.tokens import issue_token

    with pytest.raises(ValueError, match="in the future"):
        issue_token(name="born-expired", role="Operations", expires_at=timezone.now() - timedelta(seconds=1))


# --- Production refuses to start with its guards down -----------------------------------------------


def _manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "OTP_REQUIRED", "AUDIT_", "INSECURE_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def production_env(**overrides) -> dict:
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k3y-" + "x9Qz!" * 12 + str(time.time_ns()),
        "AUDIT_CHAIN_KEY": "ch41n-" + "Rw7#p" * 10 + str(time.time_ns()),
        "ALLOWED_HOSTS": "backoffice.example.com",
        "PARSEC_API_KEY": "pk_live_example",
        "DATABASE_URL": "sqlite:////tmp/backoffice-check-deploy.sqlite3",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize("overrides, refusal", [
    ({"SECRET_KEY": "changeme-changeme"}, "SECRET_KEY is weak"),
    ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 6}, "SECRET_KEY is weak"),
    ({"DEBUG": "1"}, "DEBUG is on"),
    ({"OTP_REQUIRED": "0"}, "OTP_REQUIRED is off"),
    ({"AUDIT_CHAIN_KEY": None}, "needs these environment variables: AUDIT_CHAIN_KEY"),
    ({"AUDIT_CHAIN_KEY": "same-as-the-secret-key-" + "z" * 40, "SECRET_KEY": "same-as-the-secret-key-" + "z" * 40},
     "AUDIT_CHAIN_KEY must differ from SECRET_KEY"),
    ({"AUDIT_CHAIN_KEY": "short"}, "AUDIT_CHAIN_KEY is weak"),
    ({"AUDIT_CHAIN_PREVIOUS_KEYS": "r3t1red-" + "Qm8&v" * 10 + ",tooshort"}, "AUDIT_CHAIN_PREVIOUS_KEYS holds a weak key"),
    ({"AUDIT_CHAIN_KEY": "c0rrent-" + "Yp4*s" * 10, "AUDIT_CHAIN_PREVIOUS_KEYS": "c0rrent-" + "Yp4*s" * 10},
     "AUDIT_CHAIN_PREVIOUS_KEYS holds AUDIT_CHAIN_KEY or SECRET_KEY"),
])
def test_production_refuses_to_start_with_a_guard_down(overrides, refusal):
    result = _manage("check", env=production_env(**overrides))
    assert result.returncode == 1, result.stdout + result.stderr
    assert refusal in result.stderr, result.stderr[-2000:]


def test_retired_audit_keys_start_and_are_never_shown():
    retired = "r3t1red-" + "Qm8&v" * 10
    assert _manage("check", env=production_env(AUDIT_CHAIN_PREVIOUS_KEYS=f"{retired}, {retired}x")).returncode == 0
    refused = _manage("check", env=production_env(AUDIT_CHAIN_PREVIOUS_KEYS=f"{retired},short-retired-key"))
    assert refused.returncode == 1 and "short-retired-key" not in refused.stdout + refused.stderr


def test_a_named_acknowledgement_lets_production_start_with_a_guard_down():
    result = _manage("check", env=production_env(OTP_REQUIRED="0", INSECURE_PRODUCTION_ACKNOWLEDGED="OTP_REQUIRED"))
    assert result.returncode == 0, result.stderr[-2000:]
    refused = _manage("check", env=production_env(OTP_REQUIRED="0", DEBUG="1", INSECURE_PRODUCTION_ACKNOWLEDGED="OTP_REQUIRED"))
    assert refused.returncode == 1 and "DEBUG is on" in refused.stderr


def test_the_guards_name_the_acknowledgement_variable():
    result = _manage("check", env=production_env(DEBUG="1"))
    assert "INSECURE_PRODUCTION_ACKNOWLEDGED=DEBUG" in result.stderr


def test_a_password_for_the_personas_stays_valid():
    validate_password(PASSWORD)
