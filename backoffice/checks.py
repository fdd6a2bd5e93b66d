from django.core.checks import Warning, register


@register("backoffice", deploy=True)
def role_permissions_exist(app_configs, **kwargs):
    from django.db.utils import DatabaseError

    from core.roles import missing_permissions

    try:
        missing = missing_permissions()
    except DatabaseError:
        return []
    return [
        Warning(f"Role permission {label} is not defined by any model", id="backoffice.W001")
        for label in missing
    ]
