"""USDC amounts: Parsec and the escrow count them in base units (6 decimals, ``int``); people read
them as ``Decimal`` dollars. Every conversion in the product goes through these two functions."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

USDC_DECIMALS = 6
BASE_UNITS_PER_USDC = Decimal(10) ** USDC_DECIMALS


def usdc_from_base_units(base_units: int | None) -> Decimal | None:
    """``1_500_000`` → ``Decimal("1.500000")``; None stays None."""
    if base_units is None:
        return None
    return Decimal(int(base_units)).scaleb(-USDC_DECIMALS)


def base_units_from_usdc(amount: Decimal, *, round_up: bool = False) -> int:
    """``Decimal("1.5")`` → ``1_500_000``; a fraction of a base unit is cut (or rounded up)."""
    scaled = Decimal(amount) * BASE_UNITS_PER_USDC
    return int(scaled.to_integral_value(rounding=ROUND_CEILING if round_up else ROUND_DOWN))
