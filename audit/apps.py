from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only, hash-chained audit log: below every domain app, written only by record_action."""

    name = "audit"
    verbose_name = "Audit log"
