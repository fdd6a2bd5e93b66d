"""Thin forms for end-user management: they parse input; ``customers.services`` decides.

Credential fields use PasswordInput with ``render_value=False`` (and the private key a textarea that
renders empty): a refused form is shown again without them, so a secret never travels back to the
browser or into a page cache.
"""

from __future__ import annotations

from django import forms

from customers.enums import Exchange
from customers.models import QPS_LIMIT_MAX, ExchangeLink

ONBOARD_EXCHANGES = [(Exchange.POLYMARKET.value, Exchange.POLYMARKET.label), (Exchange.KALSHI.value, Exchange.KALSHI.label)]
SECRET = {"widget": forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}), "required": False, "strip": False}


class SecretTextarea(forms.Textarea):
    """A textarea for a secret (a PEM key): like PasswordInput(render_value=False), a refused form
    comes back with it empty."""

    def format_value(self, value):
        return None


class CreateEndUserForm(forms.Form):
    external_id = forms.CharField(max_length=255, help_text="Your app's id for this user (unique).")
    email = forms.EmailField(required=False)
    eoa_address = forms.RegexField(regex=r"^0x[0-9a-fA-F]{40}$", required=False, label="Wallet address (optional)",
                                   error_messages={"invalid": "A wallet address is 0x followed by 40 hex digits."})


class OnboardForm(forms.Form):
    exchange = forms.ChoiceField(choices=ONBOARD_EXCHANGES)
    mode = forms.ChoiceField(choices=[(ExchangeLink.Mode.MANAGED, "Managed wallet (Polymarket only)"),
                                      (ExchangeLink.Mode.SELF, "Self mode: the user's own exchange credentials")])
    clob_api_key = forms.CharField(label="Polymarket CLOB API key", **SECRET)
    clob_api_secret = forms.CharField(label="Polymarket CLOB API secret", **SECRET)
    clob_api_passphrase = forms.CharField(label="Polymarket CLOB API passphrase", **SECRET)
    api_key_id = forms.CharField(label="Kalshi API key id", **SECRET)
    private_key = forms.CharField(label="Private key (Kalshi RSA PEM, or Polymarket 0x… to trade)",
                                  widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off"}), required=False, strip=False)

    CREDENTIAL_FIELDS = ("clob_api_key", "clob_api_secret", "clob_api_passphrase", "api_key_id", "private_key")
    # When each credential field applies (the page shows it only then: data-show-if).
    SHOWN_WHEN = {
        "clob_api_key": "exchange=polymarket mode=self", "clob_api_secret": "exchange=polymarket mode=self",
        "clob_api_passphrase": "exchange=polymarket mode=self", "api_key_id": "exchange=kalshi mode=self",
        "private_key": "mode=self",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, rule in self.SHOWN_WHEN.items():
            self.fields[name].show_if = rule
        self.fields["private_key"].help_text = "Kalshi: the RSA private key (PEM), required. Polymarket: optional, 0x… to trade."

    def credentials(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.CREDENTIAL_FIELDS if self.cleaned_data.get(name)}


class QpsLimitForm(forms.Form):
    qps_limit = forms.IntegerField(min_value=1, max_value=QPS_LIMIT_MAX, label="New qps_limit")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept on record).")


class DeactivateForm(forms.Form):
    confirm_external_id = forms.CharField(label="Type the external id to confirm", max_length=255)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept on record).")
