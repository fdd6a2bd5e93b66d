"""The customers admin: the mirror's lists and the end-user management pages."""

from customers.admin import endusers, mirror  # noqa: F401  (each registers its models)
from customers.admin.mirror import CustomerColumn, customer_link

__all__ = ["CustomerColumn", "customer_link"]
