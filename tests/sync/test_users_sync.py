"""The users sync against the real sandbox while the list changes under it: an end-user the list
did not show is deactivated only when a second read says it is gone."""

from __future__ import annotations

import uuid

import pytest

from customers.models import Customer
from customers.services import create_end_user
from parsec.client import ParsecClient
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
