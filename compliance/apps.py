from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self) -> None:
        # The surveillance hook on the sync task, and the alert/review admin beside the audit log's.
        from compliance import admin_review, tasks  # noqa: F401

        admin_review.register()
