"""The customers mirror refuses what must never be stored and keeps history."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import BalanceSnapshot, Customer, ExchangeLink, allowance_columns, scrub_user_payload
from sync.models import SyncRun
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_scrub_user_payload_drops_the_key_and_keeps_only_its_last_four():
    payload = {"customer_id": "c1", "external_id": "e1", "api_key": "pk_live_abcdef123456", "tier": "free"}
    clean, last4 = scrub_user_payload(payload)
    assert "api_key" not in clean
    assert last4 == "3456"
    assert "pk_live_abcdef123456" not in repr(clean)
    assert payload["api_key"] == "pk_live_abcdef123456"  # the caller's dict is not mutated


def test_save_refuses_a_raw_payload_carrying_the_api_key():
    customer = Customer(parsec_customer_id=uuid.uuid4(), external_id="e1", raw={"api_key": "pk_live_secret"})
    with pytest.raises(ValueError, match="API key"):
        customer.save()
    assert not Customer.objects.exists()


def test_full_clean_reports_the_api_key_as_a_field_error():
    customer = Customer(parsec_customer_id=uuid.uuid4(), external_id="e1", raw={"api_key": "pk_live_secret"})
    with pytest.raises(ValidationError) as caught:
        customer.full_clean()
    assert "raw" in caught.value.message_dict


def test_database_refuses_the_api_key_even_through_bulk_create():
    # Bulk upserts skip save(); the CHECK constraint is what really guards the table.
    customer = Customer(parsec_customer_id=uuid.uuid4(), external_id="e1", raw={"api_key": "pk_live_secret"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.bulk_create([customer])
    assert not Customer.objects.exists()


def test_database_refuses_the_api_key_through_update():
    customer = f.customer(raw={"tier": "free"})
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(raw={"api_key": "pk_live_secret"})
    customer.refresh_from_db()
    assert customer.raw == {"tier": "free"}


def test_parsec_customer_id_and_external_id_are_unique():
    first = f.customer()
    with pytest.raises(IntegrityError), transaction.atomic():
        f.customer(parsec_customer_id=first.parsec_customer_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        f.customer(external_id=first.external_id)


def test_qps_limit_below_one_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        f.customer(qps_limit=0)


def test_one_exchange_link_per_customer_and_exchange():
    customer = f.customer()
    ExchangeLink.objects.create(customer=customer, exchange="polymarket", mode="managed")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExchangeLink.objects.create(customer=customer, exchange="polymarket", mode="self")
    ExchangeLink.objects.create(customer=customer, exchange="kalshi", mode="self")
    assert customer.exchange_links.count() == 2


def test_balance_snapshots_form_a_history_newest_first():
    customer = f.customer()
    now = timezone.now()
    for hours, units in [(2, 1_000_000), (1, 2_500_000), (0, 14_328_266)]:
        BalanceSnapshot.objects.create(
            customer=customer, exchange="polymarket", usdc_base_units=units, taken_at=now - timedelta(hours=hours),
        )
    history = list(customer.balance_snapshots.filter(exchange="polymarket"))
    assert [snap.usdc_base_units for snap in history] == [14_328_266, 2_500_000, 1_000_000]
    assert str(history[0].usdc) == "14.328266"


def test_unlimited_allowance_is_a_flag_not_an_overflow():
    assert allowance_columns(str(2**256 - 1)) == {"allowance_base_units": None, "allowance_unlimited": True}
    assert allowance_columns("5000000") == {"allowance_base_units": 5_000_000, "allowance_unlimited": False}
    assert allowance_columns(None) == {"allowance_base_units": None, "allowance_unlimited": False}


def test_sync_run_progress_cannot_exceed_its_total():
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(kind="customer-full", progress_done=5, progress_total=4)


def test_sync_run_cannot_finish_before_it_started():
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(kind="users", started_at=now, finished_at=now - timedelta(seconds=1))


def test_sync_run_progress_percent():
    run = SyncRun(kind="customer-full", progress_done=3, progress_total=4)
    assert run.progress_percent == 75
    assert SyncRun(kind="users").progress_percent is None
    assert SyncRun(kind="users", status="succeeded").progress_percent == 100
