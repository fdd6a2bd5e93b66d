"""The orders admin: the mirror's lists, the trading pages and the fee-escrow records."""

from orders.admin import escrow, mirror, trading  # noqa: F401  (each registers its models)
