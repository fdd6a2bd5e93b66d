"""The three staff roles and what each may do.

Groups are created by a data migration; their permissions are (re)applied after every
migrate, because a model's permissions exist only once its app has migrated. A
permission named here that no app defines is reported by a system check.
"""

from __future__ import annotations

OPERATIONS = "Operations"
COMPLIANCE = "Compliance"
ADMINISTRATORS = "Administrators"
ROLES = (OPERATIONS, COMPLIANCE, ADMINISTRATORS)

# Apps whose rows every role may read.
READABLE_APPS = ("customers", "orders", "approvals", "compliance", "audit", "sync", "parsec")

# Extra permissions per role, as "app_label.codename". Apps add their own custom
# permissions (Meta.permissions) and list them here.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    OPERATIONS: {
        "customers.sync_customer",
        "orders.place_order", "orders.cancel_order", "orders.reconcile_intent",
        "approvals.approve_request", "orders.manage_killswitch",
        "customers.manage_enduser", "orders.check_escrow",
    },
    COMPLIANCE: {"compliance.review_alert", "compliance.export_activity"},
}


def has_role(user, role: str) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()


def _permissions_for(role: str):
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    if role == ADMINISTRATORS:
        return Permission.objects.all()
    wanted = Q(codename__startswith="view_", content_type__app_label__in=READABLE_APPS)
    for label in ROLE_PERMISSIONS.get(role, ()):
        app_label, codename = label.split(".", 1)
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(wanted)


def sync_role_permissions(sender=None, using="default", **kwargs):
    """Idempotently give each role group exactly its permissions."""
    if using != "default":
        return
    from django.contrib.auth.models import Group

    for role in ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(_permissions_for(role))


def missing_permissions() -> list[str]:
    from django.contrib.auth.models import Permission

    missing = []
    for labels in ROLE_PERMISSIONS.values():
        for label in sorted(labels):
            app_label, codename = label.split(".", 1)
            if not Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists():
                missing.append(label)
    return missing
