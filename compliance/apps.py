from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self) -> None:
        from compliance.tasks import surveil_after_customer_sync
        from customers.signals import customer_synced

        customer_synced.connect(surveil_after_customer_sync, dispatch_uid="compliance.surveil_after_customer_sync")
