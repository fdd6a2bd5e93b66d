from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import anon_api, compliance_api, issue, ops_api  # noqa: F401 (fixtures)


@pytest.fixture
def some_customer(db):
    from customers.models import Customer

    return Customer.objects.create(parsec_customer_id=uuid.uuid4(), external_id=f"sec-{uuid.uuid4().hex[:8]}")
