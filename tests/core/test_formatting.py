"""The one formatter: the Decimal edge cases that used to reach people's screens."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.template import Context, Template

from core import formatting


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("1E+1"), "10"), (Decimal("2.5E+3"), "2,500"), (Decimal("0E-8"), "0"), (Decimal("10.00000000"), "10"),
    (Decimal("-0"), "0"), (Decimal("-0.000"), "0"), (Decimal("0.62000000"), "0.62"), (Decimal("-12.5"), "-12.5"),
    (Decimal("1234567.125"), "1,234,567.125"), ("3", "3"), (None, "—"), (Decimal("NaN"), "—"),
])
def test_size_has_no_exponent_no_trailing_zeros_and_no_negative_zero(value, shown):
    assert formatting.size(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("5993.2"), "5,993.20"), (Decimal("981.010000"), "981.01"), (Decimal("-0.1000000000000000"), "-0.10"),
    (Decimal("-0.001"), "0.00"), (Decimal("0E-8"), "0.00"), (Decimal("1E+3"), "1,000.00"), (0.1 + 0.2, "0.30"),
    (None, "—"),
])
def test_usdc_has_two_places_and_thousands_separators(value, shown):
    assert formatting.usdc(value) == shown


def test_usdc_base_units_are_dollars_with_the_precision_asked_for():
    assert formatting.usdc_base_units(100_000) == "0.10"
    assert formatting.usdc_base_units(137_500, places=6) == "0.137500"
    assert formatting.usdc_base_units(1_234_567_890_000) == "1,234,567.89"
    assert formatting.usdc_base_units(None) == "—"


@pytest.mark.parametrize(("value", "tick", "shown"), [
    (Decimal("0.5"), Decimal("0.01"), "0.50"), (Decimal("0.62000000"), None, "0.62"),
    (Decimal("0.615"), Decimal("0.001"), "0.615"), (Decimal("0.44"), Decimal("1E-2"), "0.44"),
    (Decimal("0.5"), "0.001", "0.500"),
])
def test_prices_are_shown_at_the_markets_tick(value, tick, shown):
    assert formatting.price(value, tick) == shown


def test_signed_pnl_and_plain_digits():
    assert formatting.signed_usdc(Decimal("1234.5")) == "+1,234.50"
    assert formatting.signed_usdc(Decimal("-0.1")) == "-0.10"
    assert formatting.signed_usdc(Decimal("0")) == "0.00"
    assert formatting.signed_usdc(Decimal("0.001")) == "0.00"  # rounds to nothing: no sign
    assert formatting.plain(Decimal("1E+1")) == "10" and formatting.plain(Decimal("0E-8")) == "0"
    assert formatting.plain(Decimal("-0.50")) == "-0.5"


def test_one_date_time_format_with_its_zone():
    moment = datetime(2026, 11, 30, 4, 41, 29, tzinfo=UTC)
    assert formatting.when(moment) == "2026-11-30 04:41:29 UTC"
    assert formatting.when(moment.astimezone(timezone(timedelta(hours=2)))) == "2026-11-30 04:41:29 UTC"
    assert formatting.when(date(2026, 3, 1)) == "2026-03-01"
    assert formatting.when(None) == "—"


def test_template_filters_use_the_same_formatter():
    rendered = Template(
        "{% load numbers %}{{ a|size }} {{ b|usdc }} {{ c|usdc_units:6 }} {{ d|price:tick }} {{ e|when }}"
    ).render(Context({"a": Decimal("2.5E+3"), "b": Decimal("5993.2"), "c": 137500, "d": Decimal("0.5"),
                      "tick": Decimal("0.001"), "e": datetime(2026, 11, 30, 4, 43, 39, tzinfo=UTC)}))
    assert rendered == "2,500 5,993.20 0.137500 0.500 2026-11-30 04:43:39 UTC"


@pytest.mark.parametrize(("value", "shown"), [
    (timedelta(microseconds=3242), "3 ms"), (timedelta(seconds=3, milliseconds=240), "3.2 s"),
    (timedelta(seconds=125), "2 min 5 s"), (timedelta(hours=1, minutes=3, seconds=9), "1 h 3 min"),
    (Decimal("0.5"), "500 ms"), (None, "—"), (timedelta(seconds=-1), "—"),
])
def test_durations_read_like_seconds_not_a_timedelta(value, shown):
    assert formatting.duration(value) == shown


def test_djangos_own_date_rendering_uses_the_same_format_with_its_zone():
    """The admin's lists and read-only fields render datetimes through Django's formats."""
    from django.utils import formats
    from django.utils import timezone as dj_timezone

    moment = datetime(2026, 11, 30, 4, 41, 29, tzinfo=UTC)
    assert formats.localize(dj_timezone.template_localtime(moment)) == "2026-11-30 04:41:29 UTC"
    assert Template("{{ t }} {{ t|date }} {{ d }}").render(Context({"t": moment, "d": date(2026, 3, 1)})) == (
        "2026-11-30 04:41:29 UTC 2026-11-30 2026-03-01")
