"""The audit log: who did what, sanitised, chained, and impossible to edit or delete."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit import services
from audit.models import AuditEvent
from customers.models import Customer
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    return f.customer(external_id="audit-ext-1")


def record(**overrides) -> AuditEvent:
    fields = {"actor": "system", "action": "customer.deactivate", "outcome": "ok", **overrides}
    return services.record_action(**fields)


# --- What a row holds -----------------------------------------------------------------------


def test_a_staff_action_names_the_user_and_the_customer(operator, customer):
    event = services.record_action(
        actor=operator, action="order.place", customer=customer, reason="client asked by phone",
        request={"price": Decimal("0.42"), "size": Decimal("10")}, outcome="ok", response={"order_id": "o-1"},
    )
    event.refresh_from_db()
    assert (event.actor, event.actor_name, event.customer, event.customer_ref) == (
        operator, "olivia.operator", customer, str(customer.parsec_customer_id))
    assert event.request == {"price": "0.42", "size": "10"}  # Decimals kept exact, as text
    assert event.response == {"order_id": "o-1"} and event.reason == "client asked by phone"
    assert event.at.utcoffset().total_seconds() == 0


def test_an_api_token_is_named_by_its_identity():
    class Token:
        identity = "api-token:ab12 (reporting)"

    event = record(actor=Token())
    assert event.actor is None and event.actor_name == "api-token:ab12 (reporting)"


def test_the_system_and_identity_strings_are_actors():
    assert record(actor=None).actor_name == "system"
    assert record(actor="celery:sweep").actor_name == "celery:sweep"


def test_a_parsec_customer_id_string_links_the_mirrored_customer(customer):
    event = record(customer=str(customer.parsec_customer_id))
    assert event.customer == customer
    unknown = record(customer="not-mirrored-yet")
    assert unknown.customer is None and unknown.customer_ref == "not-mirrored-yet"


@pytest.mark.parametrize("kwargs, message", [
    ({"outcome": "fine"}, "Unknown audit outcome"),
    ({"action": "  "}, "dotted verb"),
    ({"actor": " "}, "blank"),
    ({"actor": 42}, "Cannot name"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(kwargs, message):
    with pytest.raises(services.AuditError, match=message):
        record(**kwargs)
    assert not AuditEvent.objects.exists()


def test_secrets_never_reach_the_log():
    event = record(
        request={
            "api_key": "pk_live_x", "Private-Key": "0xabc", "credentials": {"key": "k"},
            "clob_api_secret": "s", "clob_api_passphrase": "p", "fee_auth": {"signature": "0xsig", "order_id": "o"},
            "password": "hunter2", "secret": "s", "token": "t", "wallet_private_key": "0x1",
            "orders": [{"signature": "0xs2", "token_id": "123", "signature_type": 1}],
        },
        response={"nested": {"refresh_token": "r", "status": "open"}},
    )
    event.refresh_from_db()
    text = str(event.request) + str(event.response)
    for secret in ("pk_live_x", "0xabc", "hunter2", "0xsig", "0xs2", "'k'", "'r'", "0x1'"):
        assert secret not in text
    assert event.request["fee_auth"] == {"signature": "[redacted]", "order_id": "o"}
    assert event.request["orders"] == [{"signature": "[redacted]", "token_id": "123", "signature_type": 1}]
    assert event.response == {"nested": {"refresh_token": "[redacted]", "status": "open"}}


# --- Recorded even when the work fails ------------------------------------------------------


def test_audited_records_success_with_what_the_work_reported(operator, customer):
    with services.audited(actor=operator, action="customer.deactivate", request={"id": 1}) as entry:
        entry.customer = customer
        entry.response = {"status": "deactivated"}
    assert entry.event.outcome == "ok" and entry.event.customer == customer
    assert AuditEvent.objects.get().response == {"status": "deactivated"}


def test_audited_records_a_failure_that_rolled_back_the_work(operator, customer):
    audit = services.audited(actor=operator, action="customer.deactivate", customer=customer)
    with pytest.raises(ZeroDivisionError), audit as entry, transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(status="deactivated")
        1 / 0  # noqa: B018
    customer.refresh_from_db()
    assert customer.status == "active"  # the work rolled back ...
    event = AuditEvent.objects.get()  # ... the audit row did not
    assert (event.outcome, event.response["error_type"]) == ("error", "ZeroDivisionError")
    assert entry.event == event


def test_audited_keeps_a_rejected_outcome_set_before_the_error(operator):
    with pytest.raises(ValueError), services.audited(actor=operator, action="order.cancel") as entry:
        entry.outcome = "rejected"
        raise ValueError("already filled")
    assert AuditEvent.objects.get().outcome == "rejected"


def test_audited_refuses_to_start_inside_a_transaction(operator):
    audit = services.audited(actor=operator, action="order.place")
    with pytest.raises(services.AuditError, match="outside any transaction"), transaction.atomic(), audit:
        pass
    assert not AuditEvent.objects.exists()


# --- Append-only ----------------------------------------------------------------------------


def test_the_database_refuses_update_and_delete_in_raw_sql():
    event = record()
    for sql in (
        "UPDATE compliance_auditevent SET reason = 'edited' WHERE id = %s",
        "DELETE FROM compliance_auditevent WHERE id = %s",
    ):
        # The trigger refuses; on PostgreSQL the app's role lacks the privilege before that.
        with pytest.raises(DatabaseError, match=r"append-only|permission denied"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.reason == ""


def test_the_orm_cannot_update_or_delete_either():
    event = record()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="error")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk, outcome="ok").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_postgresql_refuses_truncate(transactional_db):
    record()
    with pytest.raises(DatabaseError, match=r"append-only|permission denied"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("TRUNCATE compliance_auditevent")
    assert AuditEvent.objects.count() == 1


# --- The chain ------------------------------------------------------------------------------


def test_each_row_chains_to_the_previous_one():
    first, second, third = record(), record(), record()
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert (first.prev_hash, second.prev_hash, third.prev_hash) == ("", first.hash, second.hash)
    assert services.verify_chain() == (3, None)


@pytest.mark.parametrize("tamper, problem", [
    ("UPDATE compliance_auditevent SET reason = 'nothing happened' WHERE seq = 2", "row altered"),
    ("UPDATE compliance_auditevent SET outcome = 'ok', response = '{}' WHERE seq = 2", "row altered"),
    ("UPDATE compliance_auditevent SET prev_hash = 'x' WHERE seq = 2", "prev_hash"),
    ("DELETE FROM compliance_auditevent WHERE seq = 2", "rows missing"),
])
def test_verify_reports_the_first_tampered_row(transactional_db, tamper, problem, capsys):
    from tests.security.tamper import tamper as with_more_power_than_the_app

    for n in range(4):
        record(reason=f"step {n}", outcome="error" if n == 1 else "ok", response={"error": "boom"} if n == 1 else {})
    call_command("verify_audit_log")
    assert "4 event(s) verified" in capsys.readouterr().out

    with_more_power_than_the_app(tamper)

    with pytest.raises(CommandError, match=problem) as caught:
        call_command("verify_audit_log")
    assert caught.value.returncode == 1
    seq = 3 if "DELETE" in tamper else 2
    assert f"broken at seq {seq}" in str(caught.value)


def test_flush_empties_the_log_and_leaves_it_append_only(transactional_db):
    record()
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    event = record()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_concurrent_writers_never_fork_the_chain(transactional_db):
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                record(reason=f"w{worker}-{n}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, 41))
    assert services.verify_chain() == (40, None)
