from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self):
        from backoffice import checks  # noqa: F401  (registers system checks)
        from core.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="backoffice.sync_role_permissions")


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"
