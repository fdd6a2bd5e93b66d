"""The builder's escrow fee for one order, in USDC base units (NOTES §8.5).

One calculator for the order form, the API and the local ``fee_auth`` checks:
``fee = ceil(price * size * fee_bps / 10000 * 1e6)``, never below the minimum, which is the larger
of ``min_fee_usdc`` (base units) and ``ceil(notional * min_fee_bps / 10000 * 1e6)``, and never
above the builder tier's maximum bps of notional (``maximum_fee``).
"""

from __future__ import annotations

from decimal import Decimal

from core.money import base_units_from_usdc

BPS = Decimal(10_000)
# The most a builder may charge per order, by builder tier (NOTES §4.7). Parsec has no endpoint
# that returns the tier: it is the setting PARSEC_BUILDER_TIER (everyone starts at iron).
TIER_MAX_FEE_BPS = {"iron": 50, "bronze": 75, "silver": 100, "gold": 125, "platinum": 150}


def _base_units_up(notional: Decimal, bps: int) -> int:
    return base_units_from_usdc(notional * Decimal(bps) / BPS, round_up=True)


def _notional(price: Decimal, size: Decimal) -> Decimal:
    price, size = Decimal(price), Decimal(size)
    if not price.is_finite() or not size.is_finite() or price <= 0 or size <= 0:
        raise ValueError("price and size must be positive numbers")
    return price * size


def minimum_fee(*, price: Decimal, size: Decimal, min_fee_usdc: int, min_fee_bps: int) -> int:
    """The floor Parsec's escrow accepts for this order, in base units."""
    return max(int(min_fee_usdc), _base_units_up(_notional(price, size), int(min_fee_bps)))


def maximum_fee(*, price: Decimal, size: Decimal, config, tier: str | None = None) -> int:
    """The ceiling: the tier's maximum bps of notional, never below the minimum fee (a small
    order pays the floor)."""
    from django.conf import settings

    tier = (tier or settings.PARSEC_BUILDER_TIER).lower()
    cap = _base_units_up(_notional(price, size), TIER_MAX_FEE_BPS.get(tier, TIER_MAX_FEE_BPS["iron"]))
    return max(cap, minimum_fee(price=price, size=size, min_fee_usdc=config.min_fee_usdc, min_fee_bps=config.min_fee_bps))


def fee_base_units(*, price: Decimal, size: Decimal, fee_bps: int, min_fee_usdc: int = 0, min_fee_bps: int = 0) -> int:
    """The fee to ask the payer to sign for: the bps fee rounded up, raised to the minimum."""
    if isinstance(fee_bps, bool) or int(fee_bps) != fee_bps or not 0 <= int(fee_bps) <= 10_000:
        raise ValueError("fee_bps must be an integer from 0 to 10000")
    fee = _base_units_up(_notional(price, size), int(fee_bps))
    return max(fee, minimum_fee(price=price, size=size, min_fee_usdc=min_fee_usdc, min_fee_bps=min_fee_bps))


def fee_for_config(*, config, price: Decimal, size: Decimal, fee_bps: int | None = None) -> int:
    """The fee under the builder's escrow configuration (``parsec.types.EscrowConfig``);
    ``fee_bps`` overrides the configured rate."""
    bps = config.fee_bps if fee_bps is None else fee_bps
    if bps is None:
        raise ValueError("the escrow configuration has no fee_bps; give one")
    return fee_base_units(price=price, size=size, fee_bps=bps, min_fee_usdc=config.min_fee_usdc, min_fee_bps=config.min_fee_bps)

