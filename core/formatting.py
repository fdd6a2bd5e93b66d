"""The one way a number or a time is shown to a person: templates, admin columns, exports and the
API's sentences all go through here. Never scientific notation (``1E+1``), never trailing noise
(``0.62000000``), never ``-0``; USDC with thousands separators; prices at the market's tick.

Machine-readable outputs (CSV columns meant for spreadsheets, the API's JSON numbers) use
``plain`` (no separators); everything a person reads uses the others.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.money import usdc_from_base_units

EMPTY = "—"
DEFAULT_TICK = Decimal("0.01")


def to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        value = repr(value)  # the shortest string that round-trips, not the binary expansion
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _no_negative_zero(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() else value


def _fixed(value: Decimal, places: int, *, grouping: bool) -> str:
    quantum = Decimal(1).scaleb(-places)
    rounded = _no_negative_zero(value.quantize(quantum, rounding=ROUND_HALF_UP))
    return format(rounded, ",f" if grouping else "f")


def plain(value, *, empty: str = "") -> str:
    """A decimal as digits only: ``1E+1`` → ``10``, ``0E-8`` → ``0``, ``0.62000000`` → ``0.62``."""
    number = to_decimal(value)
    if number is None or not number.is_finite():
        return empty
    return format(_no_negative_zero(number.normalize()), "f")


def size(value, *, empty: str = EMPTY) -> str:
    """Contracts: no trailing zeros, thousands separators (``2.5E+3`` → ``2,500``)."""
    number = to_decimal(value)
    if number is None or not number.is_finite():
        return empty
    return format(_no_negative_zero(number.normalize()), ",f")


def tick_places(tick) -> int:
    tick = to_decimal(tick) or DEFAULT_TICK
    exponent = tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def price(value, tick=None, *, empty: str = EMPTY) -> str:
    """A price at the market's tick precision (0.01 → ``0.62``, 0.001 → ``0.615``)."""
    number = to_decimal(value)
    if number is None or not number.is_finite():
        return empty
    return _fixed(number, tick_places(tick), grouping=False)


def usdc(value, *, places: int = 2, empty: str = EMPTY) -> str:
    """Dollars of USDC: ``5993.2`` → ``5,993.20`` (``places=6`` where base units matter)."""
    number = to_decimal(value)
    if number is None or not number.is_finite():
        return empty
    return _fixed(number, places, grouping=True)


def usdc_base_units(value, *, places: int = 2, empty: str = EMPTY) -> str:
    """USDC base units (6 decimals) shown as dollars: ``137500`` → ``0.14`` (or ``0.137500``)."""
    if value is None or value == "":
        return empty
    return usdc(usdc_from_base_units(int(value)), places=places, empty=empty)


def signed_usdc(value, *, places: int = 2, empty: str = EMPTY) -> str:
    """P&L: ``+1,234.50`` / ``-0.10`` / ``0.00``."""
    number = to_decimal(value)
    if number is None or not number.is_finite():
        return empty
    text = usdc(number, places=places)
    return f"+{text}" if number > 0 and text.strip("0.,") else text


DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
DATE_FORMAT = "%Y-%m-%d"


def when(value, *, seconds: bool = True, empty: str = EMPTY) -> str:
    """One date-time format everywhere, always with its zone: ``2026-11-30 04:43:39 UTC``."""
    if value is None or value == "":
        return empty
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.strftime(DATETIME_FORMAT if seconds else "%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    return str(value)


def duration(value, *, empty: str = EMPTY) -> str:
    """A duration a person reads at a glance: ``3 ms``, ``3.2 s``, ``2 min 5 s``, ``1 h 3 min``."""
    if value is None or value == "":
        return empty
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(to_decimal(value) or 0)
    if seconds < 0:
        return empty
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
