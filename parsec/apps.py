from django.apps import AppConfig


class ParsecConfig(AppConfig):
    name = "parsec"
    verbose_name = "Parsec gateway"

    def ready(self):
        from parsec import checks  # noqa: F401  (registers system checks)
