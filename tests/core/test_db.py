"""The one "no network call inside a database transaction" guard (core.db)."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.services import AuditError, audited
from core.db import assert_no_transaction


@pytest.mark.django_db
def test_the_guard_refuses_a_callers_transaction_but_not_a_test_cases_wrapper():
    assert_no_transaction()  # the test case's own wrapper is not a caller's transaction
    with pytest.raises(RuntimeError, match=r"^a call to Parsec must run outside any transaction$"), transaction.atomic():
        assert_no_transaction()


@pytest.mark.django_db
def test_the_audit_log_and_the_services_refuse_the_same_transactions():
    with pytest.raises(AuditError, match=r"^audited\(\) must run outside any transaction$"), transaction.atomic():
        assert_no_transaction("audited()", error=AuditError)
    with pytest.raises(AuditError, match="outside any transaction"), transaction.atomic(), audited(actor="system", action="customer.sync"):
        pass
