from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared, domain-free pieces: the upsert engine, the admin base, errors, money, roles."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.admin import decimals_through_the_formatter, headers_once_per_list

        headers_once_per_list()
        decimals_through_the_formatter()
