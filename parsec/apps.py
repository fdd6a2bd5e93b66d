from django.apps import AppConfig


class ParsecConfig(AppConfig):
    name = "parsec"
    verbose_name = "Parsec gateway"
