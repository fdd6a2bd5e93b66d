"""The mirror's admin: read-only, role-gated, and list pages whose query count does not grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.admin import CappedCountPaginator
from customers.models import Customer, SyncRun
from orders.models import Order
from tests.admin.mirror_data import build_mirror

pytestmark = pytest.mark.django_db

# Queries per changelist page (NetBox-style pinned counts): session, user, two permission
# reads, the capped count, the page; nothing per row.
CHANGELISTS = {
    "customers.customer": 6,
    "customers.wallet": 6,
    "customers.exchangelink": 6,
    "customers.balancesnapshot": 6,
    "customers.syncrun": 6,
    "orders.market": 6,
    "orders.order": 6,
    "orders.fill": 6,
    "orders.position": 6,
}


def changelist(label: str) -> str:
    return reverse(f"admin:{label.replace('.', '_')}_changelist")


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_changelist_query_count_does_not_grow_with_rows(operator_client, label):
    build_mirror(3)
    url = changelist(label)
    small = count_queries(operator_client, url)
    build_mirror(40)
    large = count_queries(operator_client, url)
    assert large == small, f"{label}: {small} queries with 3 rows, {large} with 43"
    assert large == CHANGELISTS[label], f"{label}: {large} queries, pinned at {CHANGELISTS[label]}"
