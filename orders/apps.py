from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from orders import receivers, services

        # A large order waits for a second operator (approvals).
        services.register_approval_actions()
        # Fee records read again on the chain after an order's outcome; the worker verifies the chain.
        receivers.connect()
