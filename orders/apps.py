from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from orders import services

        # A large order waits for a second operator (approvals).
        services.register_approval_actions()
