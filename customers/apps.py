from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self) -> None:
        from customers.selectors import customer_qps_limit
        from parsec import ratelimit

        # The shared limiter keeps each customer's calls within its own qps_limit.
        ratelimit.set_customer_qps_source(customer_qps_limit)

        from customers import services

        # Deactivation waits for a second operator (approvals).
        services.register_approval_actions()
