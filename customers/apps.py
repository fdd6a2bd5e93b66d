from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self) -> None:
        from customers.sync import customer_qps_limit
        from parsec import ratelimit

        # The shared limiter keeps each customer's calls within its own qps_limit.
        ratelimit.set_customer_qps_source(customer_qps_limit)

        from customers import enduser_services

        # Deactivation runs through the four-eyes registry of orders.services.
        enduser_services.register()
