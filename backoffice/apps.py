from django.apps import AppConfig, apps
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back-office"

    def ready(self):
        from axes.signals import user_locked_out

        from backoffice import checks  # noqa: F401  (registers system checks)
        from backoffice.db_roles import grant_app_role
        from backoffice.staff_auth import audit_lockout
        from core.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="backoffice.sync_role_permissions")
        user_locked_out.connect(audit_lockout, dispatch_uid="backoffice.audit_lockout")
        # Once per migrate (post_migrate is sent per app with models; this one has none).
        post_migrate.connect(grant_app_role, sender=apps.get_app_config("audit"), dispatch_uid="backoffice.grant_app_role")


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.BackofficeAdminSite"
