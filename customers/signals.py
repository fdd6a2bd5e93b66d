"""Events of the customers mirror that apps above it may listen to (the mirror knows none of them)."""

from django.dispatch import Signal

# Sent by the sync app after a customer's orders, fills, positions and balances were read from
# Parsec without the run failing outright; kwargs: customer_id, run_id. Compliance runs its
# surveillance rules on it.
customer_synced = Signal()
