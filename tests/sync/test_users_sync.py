"""The users sync against the real sandbox while the list changes under it: an end-user the list
did not show is deactivated only when a second read says it is gone."""

from __future__ import annotations

import math
import uuid

import pytest

from customers.models import Customer, ExchangeLink, Wallet
from customers.services import create_end_user
from parsec.client import ParsecClient
from parsec.models import OutboundCall
from sync import steps
from sync.models import SyncRun
from sync.report import start_run
from sync.steps import sync_users
from tests.sandbox_client import new_customer

pytestmark = pytest.mark.django_db


class CreatesAUserBehindTheCursor(ParsecClient):
    """Real HTTP to the sandbox; once the first page is read, an operator creates an end-user
    whose external id sorts before the cursor (the list is ordered by external id)."""

    def __init__(self, *, operator, **kwargs):
        super().__init__(**kwargs)
        self.operator, self.created = operator, None

    def list_users(self, *, limit: int = 100, cursor: str | None = None):
        page = super().list_users(limit=limit, cursor=cursor)
        if cursor is None:
            assert page.next_cursor, "more than one page"
            self.created = create_end_user(actor=self.operator, external_id=f"!late-{uuid.uuid4().hex[:10]}")
        return page


class ListMissesOneUser(ParsecClient):
    """Real HTTP; the list leaves out one end-user that is still active (an inconsistent read)."""

    def __init__(self, *, hidden: str, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def list_users(self, *, limit: int = 100, cursor: str | None = None):
        page = super().list_users(limit=limit, cursor=cursor)
        return type(page)(users=tuple(u for u in page.users if u.customer_id != self.hidden), next_cursor=page.next_cursor)


@pytest.fixture
def small_pages(monkeypatch, sync_settings, sdk):
    """Pages of two users, and enough users at the sandbox for several pages."""
    monkeypatch.setattr(steps, "USERS_PAGE_SIZE", 2)
    for _ in range(3):
        new_customer(sdk, prefix="paged")


def test_the_users_sync_follows_the_cursor_page_by_page_to_the_end_and_keeps_no_api_key(small_pages, sync_settings, sdk):
    customer_ids = [new_customer(sdk, prefix="users") for _ in range(3)]
    listed, cursor = [], None
    while True:
        page = sdk.builder.users.list(limit=100, **({"cursor": cursor} if cursor else {}))
        listed += page.users
        cursor = page.next_cursor
        if not cursor:
            break
    run = sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    pages = math.ceil(len(listed) / steps.USERS_PAGE_SIZE)
    assert pages >= 3 and (run.status, run.errors) == (SyncRun.Status.SUCCEEDED, [])
    assert run.calls_made == OutboundCall.objects.filter(path_template="/builder/users").count() == pages
    assert run.progress_done == len(listed) == Customer.objects.filter(status=Customer.Status.ACTIVE).count()
    for user in listed:
        row = Customer.objects.get(parsec_customer_id=user.customer_id)
        assert (row.external_id, row.tier, row.qps_limit, row.fee_escrow_enabled) == (user.external_id, user.tier, user.qps_limit, user.fee_escrow_enabled)
        assert row.api_key_last4 == user.api_key[-4:] and "api_key" not in row.raw and user.api_key not in str(row.raw)
        assert set(row.exchange_links.values_list("exchange", flat=True)) == set(user.linked_exchanges)
        if user.wallet:
            assert Wallet.objects.filter(customer=row, address=user.wallet.eoa_address).exists()
    assert ExchangeLink.objects.filter(customer__parsec_customer_id__in=customer_ids).count() == 6

    again = sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    assert (again.rows_created, again.rows_updated, again.rows_unchanged) == (0, 0, run.rows_created)


def test_an_end_user_created_behind_the_cursor_while_the_sync_pages_is_not_deactivated(small_pages, sync_settings, operator):
    client = CreatesAUserBehindTheCursor(operator=operator, base_url=sync_settings.PARSEC_API_BASE_URL, api_key=sync_settings.PARSEC_API_KEY)
    run = sync_users(run=start_run(kind=SyncRun.Kind.USERS), client=client)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    late = Customer.objects.get(pk=client.created.pk)
    assert (late.status, late.deactivated_at) == (Customer.Status.ACTIVE, None)
    assert Customer.objects.filter(status=Customer.Status.DEACTIVATED).count() == 0


def test_an_active_end_user_a_list_leaves_out_is_kept_after_a_second_read(small_pages, sync_settings, sdk):
    kept = new_customer(sdk, prefix="unlisted")
    sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    client = ListMissesOneUser(hidden=kept, base_url=sync_settings.PARSEC_API_BASE_URL, api_key=sync_settings.PARSEC_API_KEY)
    run = sync_users(run=start_run(kind=SyncRun.Kind.USERS), client=client)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    row = Customer.objects.get(parsec_customer_id=kept)
    assert (row.status, row.deactivated_at) == (Customer.Status.ACTIVE, None)


def test_an_end_user_deactivated_at_parsec_is_marked_after_the_second_read_confirms_it(small_pages, sync_settings, sdk):
    gone = new_customer(sdk, prefix="gone")
    sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    sdk.builder.users.deactivate(gone)
    run = sync_users(run=start_run(kind=SyncRun.Kind.USERS))
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    row = Customer.objects.get(parsec_customer_id=gone)
    assert row.status == Customer.Status.DEACTIVATED and row.deactivated_at is not None
    assert list(Customer.objects.filter(status=Customer.Status.DEACTIVATED).values_list("parsec_customer_id", flat=True)) == [row.parsec_customer_id]
