from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        # The trading pages register their ModelAdmins here: orders/admin.py is the mirror's.
        from orders import admin_escrow, admin_trading  # noqa: F401
