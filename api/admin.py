"""API tokens in the admin: issue one (shown once), see when it was last used, revoke it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from unfold.admin import ModelAdmin

from api.models import ApiToken
from api.tokens import issue_token, revoke_token
from audit.services import record_action


class IssueTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "role", "expires_at", "throttle_rate"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future (leave it empty for a token that does not expire).")
        return expires_at

    def clean_throttle_rate(self):
        from rest_framework.throttling import SimpleRateThrottle

        rate = self.cleaned_data["throttle_rate"].strip()
        if rate:
            try:
                SimpleRateThrottle.parse_rate(None, rate)
            except (ValueError, KeyError, IndexError) as exc:
                raise forms.ValidationError('Write it as "<number>/<sec|min|hour|day>", e.g. "600/min".') from exc
        return rate


@admin.register(ApiToken)
class ApiTokenAdmin(ModelAdmin):
    form = IssueTokenForm
    list_display = ["name", "prefix", "role", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "service_user", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "name", "role", "expires_at", "throttle_rate"]
        return []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked, never deleted: the audit log names tokens

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, plain = issue_token(
            name=obj.name, role=obj.role, created_by=request.user, expires_at=obj.expires_at,
            throttle_rate=obj.throttle_rate,
        )
        obj.pk = token.pk
        obj.__dict__.update({k: v for k, v in token.__dict__.items() if not k.startswith("_")})
        request._issued_token = plain
        record_action(
            actor=request.user, action="api_token.issue", reason=f"Issued API token {token.identity}",
            request={"name": token.name, "role": token.role, "prefix": token.prefix}, outcome="ok",
        )

    def response_add(self, request, obj, post_url_continue=None):
        # The only time the token is ever shown: rendered in this response, never stored or
        # put in a message (messages live in the session).
        plain = getattr(request, "_issued_token", None)
        if plain is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "token": obj, "plain": plain, "opts": self.opts, "title": "API token issued"}
        response = TemplateResponse(request, "api/token_issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_token(token=token, revoked_by=request.user)
            record_action(
                actor=request.user, action="api_token.revoke", reason=f"Revoked API token {token.identity}",
                request={"prefix": token.prefix}, outcome="ok",
            )
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
