"""The escrow fee calculator (NOTES §8.5): base units, rounded up, never below the minimums."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.fees import fee_base_units, fee_for_config, minimum_fee
from parsec.types import EscrowConfig


def test_documented_example_100_contracts_at_0_55_with_25_bps_is_137500():
    assert fee_base_units(price=Decimal("0.55"), size=Decimal("100"), fee_bps=25) == 137_500


def test_the_documented_example_is_above_the_default_minimums():
    assert fee_base_units(price=Decimal("0.55"), size=Decimal("100"), fee_bps=25, min_fee_usdc=100_000, min_fee_bps=10) == 137_500


def test_a_small_order_pays_the_min_fee_usdc_floor():
    # 10 @ 0.05 = 0.50 USDC; 25 bps = 1250 base units, raised to the 0.10 USDC floor.
    assert fee_base_units(price=Decimal("0.05"), size=Decimal("10"), fee_bps=25, min_fee_usdc=100_000, min_fee_bps=10) == 100_000


def test_min_fee_bps_floor_wins_when_it_is_the_larger_minimum():
    # 10,000 @ 0.50 = 5,000 USDC; 1 bps = 0.50 USDC, min_fee_bps 10 = 5.00 USDC.
    assert minimum_fee(price=Decimal("0.50"), size=Decimal("10000"), min_fee_usdc=100_000, min_fee_bps=10) == 5_000_000
    assert fee_base_units(price=Decimal("0.50"), size=Decimal("10000"), fee_bps=1, min_fee_usdc=100_000, min_fee_bps=10) == 5_000_000


def test_fractions_of_a_base_unit_round_up():
    # 3 @ 0.33 = 0.99 USDC at 25 bps = 2475 exactly; the others fall between base units.
    assert fee_base_units(price=Decimal("0.33"), size=Decimal("3"), fee_bps=25) == 2475
    assert fee_base_units(price=Decimal("0.37"), size=Decimal("3"), fee_bps=7) == 777  # 1.11 * 7 / 10000 = 0.000777
    assert fee_base_units(price=Decimal("0.37"), size=Decimal("0.5"), fee_bps=3) == 56  # 0.0000555 → 56
    assert fee_base_units(price=Decimal("0.01"), size=Decimal("0.01"), fee_bps=1) == 1


def test_the_fee_is_an_int_of_base_units_not_a_float():
    fee = fee_base_units(price=Decimal("0.55"), size=Decimal("100"), fee_bps=25)
    assert type(fee) is int


@pytest.mark.parametrize("bad", [{"fee_bps": -1}, {"fee_bps": 10_001}, {"price": Decimal("0")}, {"size": Decimal("-1")},
                                 {"price": Decimal("NaN")}])
def test_bad_input_is_refused(bad):
    args = {"price": Decimal("0.5"), "size": Decimal("10"), "fee_bps": 25} | bad
    with pytest.raises(ValueError):
        fee_base_units(**args)


def test_the_configuration_supplies_the_rate_and_the_minimums():
    config = EscrowConfig(fee_escrow_enabled=True, fee_bps=25, affiliate_address=None, escrow_contract_address="0x" + "1" * 40,
                          min_fee_usdc=100_000, min_fee_bps=10, treasury_address="0x" + "2" * 40, affiliate_fee_bps=5000)
    assert fee_for_config(config=config, price=Decimal("0.55"), size=Decimal("100")) == 137_500
    assert fee_for_config(config=config, price=Decimal("0.55"), size=Decimal("100"), fee_bps=50) == 275_000
    assert fee_for_config(config=config, price=Decimal("0.05"), size=Decimal("10")) == 100_000
