"""Sign-in lockouts in the admin: Administrators see who is locked and unlock them, on record."""

from __future__ import annotations

import axes.admin  # registers axes' admins first, so the one below replaces it
from axes.models import AccessAttempt
from django.contrib import admin, messages

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
