from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Four eyes: requests, the registry of what each action does, the decide page."""

    name = "approvals"
    verbose_name = "Approvals"
