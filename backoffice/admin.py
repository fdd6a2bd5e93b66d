"""Staff in the admin: sign-in lockouts (Administrators see who is locked and unlock them, on record)
and the staff users list (role, second factor, lock state)."""

from __future__ import annotations

import axes.admin  # registers axes' admins first, so the one below replaces it
import django_otp.plugins.otp_static.admin  # likewise: registered first, replaced below
import django_otp.plugins.otp_totp.admin  # noqa: F401
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from audit.services import record_action


class LockoutAdmin(axes.admin.AccessAttemptAdmin):
    actions = ["unlock_selected", *axes.admin.AccessAttemptAdmin.actions]

    @admin.action(description="Unlock the selected accounts and addresses", permissions=["delete"])
    def unlock_selected(self, request, queryset):
        attempts = [{"username": a.username or "", "ip_address": a.ip_address or ""} for a in queryset]
        queryset.delete()
        record_action(actor=request.user, action="staff.unlock", outcome="ok",
                      reason=f"Unlocked {len(attempts)} sign-in lockout(s) from the admin", request={"attempts": attempts})
        self.message_user(request, f"Unlocked {len(attempts)} account/address pair(s).", messages.SUCCESS)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, LockoutAdmin)


# --- Staff users: who has which role, whether their second factor is set up, whether they are locked.
class StaffUserAdmin(DjangoUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("username", "full_name", "role", "two_factor", "lock_state", "is_active", "last_login")
    list_filter = ("is_active", "groups", "is_superuser")
    filter_horizontal = ()  # Django's two-box picker is unstyled under Unfold; Unfold's multiple select is not
    search_fields = ("username", "first_name", "last_name", "email")

    def get_queryset(self, request):
        locked = AccessAttempt.objects.filter(
            username=OuterRef("username"), failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
            attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
        return super().get_queryset(request).prefetch_related("groups").annotate(
            has_two_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            is_locked=Exists(locked),
        )

    @display(description="Name")
    def full_name(self, obj) -> str:
        return obj.get_full_name() or "—"

    @display(description="Role")
    def role(self, obj) -> str:
        roles = sorted(group.name for group in obj.groups.all())
        if obj.is_superuser:
            roles.insert(0, "Superuser")
        return ", ".join(roles) or "none"

    @display(description="Second factor", label={"set up": "success", "not set up": "warning"})
    def two_factor(self, obj) -> str:
        return "set up" if obj.has_two_factor else "not set up"

    @display(description="Sign-in", label={"locked": "danger", "open": "success"})
    def lock_state(self, obj) -> str:
        return "locked" if obj.is_locked else "open"


class StaffGroupAdmin(DjangoGroupAdmin, ModelAdmin):
    filter_horizontal = ()


admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.register(User, StaffUserAdmin)
admin.site.register(Group, StaffGroupAdmin)


# The second factor's devices: django-otp registers plain Django admins, whose bare inputs are
# invisible under Unfold; the same admins with Unfold's look.
for _device_model in (TOTPDevice, StaticDevice):
    _plain = admin.site._registry.get(_device_model)
    if _plain is not None:
        admin.site.unregister(_device_model)
        admin.site.register(_device_model, type(f"{_device_model.__name__}Admin", (type(_plain), ModelAdmin), {"__module__": __name__}))
