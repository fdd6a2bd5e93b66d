"""Thin forms for operator trading: they parse input; ``orders.services`` holds the rules."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.core import signing
from django.db.models import Q

from customers.enums import TRADING_EXCHANGES, Exchange
from customers.filters import customer_match
from customers.models import Customer
from orders.models import KillSwitch, Market, OrderType, Side

TRADING_EXCHANGE_CHOICES = [(e.value, e.label) for e in TRADING_EXCHANGES]


# How long an order form's key stays valid after the page was shown.
KEY_MAX_AGE_SECONDS = 24 * 3600


def _key_signer(user) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"orders.OrderForm.key:{getattr(user, 'pk', None)}")


def signed_intent_key(user, key: uuid.UUID | None = None) -> str:
    """A fresh intent key, signed by the server for this user (the form's hidden ``key``)."""
    return _key_signer(user).sign(str(key or uuid.uuid4()))


def intent_key_from(user, signed: str) -> uuid.UUID | None:
    """The key this server minted for this user, or None (forged, another user's, or expired)."""
    try:
        return uuid.UUID(_key_signer(user).unsign(signed or "", max_age=KEY_MAX_AGE_SECONDS))
    except (signing.BadSignature, ValueError):
        return None


class OrderForm(forms.Form):
    """Step 1 of placing an order. ``key`` is minted and signed by the server (for the signed-in
    user) when the form is first shown, so every resubmission of this page (double click, back
    button) names the same intent, and a browser cannot choose the key of an intent.

    The fee-escrow section (Polymarket) is issue 6's: a subclass adds its fields and lists them
    in ``escrow_fields``; the template renders that fieldset when it is not empty.
    """

    escrow_fields: tuple[str, ...] = ()

    key = forms.CharField(widget=forms.HiddenInput, required=False)
    customer = forms.ModelChoiceField(queryset=Customer.objects.all(), widget=forms.HiddenInput)
    exchange = forms.ChoiceField(choices=TRADING_EXCHANGE_CHOICES)
    market = forms.ModelChoiceField(
        queryset=Market.objects.filter(status=Market.Status.ACTIVE).order_by("question"),
        help_text="Search the catalogue by title above, then choose.",
    )
    outcome = forms.CharField(max_length=255, help_text="Yes / No, or the outcome's name for a categorical market.")
    side = forms.ChoiceField(choices=Side.choices)
    price = forms.DecimalField(max_digits=6, decimal_places=4, help_text="Limit price, 0.01–0.99.")
    size = forms.DecimalField(max_digits=20, decimal_places=6, help_text="Contracts.")
    order_type = forms.ChoiceField(choices=OrderType.choices, initial=OrderType.GTC)
    expiration = forms.DateTimeField(
        required=False, help_text="Good-till-date only: UTC, at least a minute ahead (YYYY-MM-DD HH:MM:SS).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why you place this order (kept on record).")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if not self.is_bound and not self.initial.get("key"):
            self.initial["key"] = signed_intent_key(user)

    def clean_key(self) -> uuid.UUID | None:
        key = intent_key_from(self.user, self.cleaned_data.get("key"))
        if key is None:
            raise forms.ValidationError("This form has expired or was altered; open the order form again.")
        return key

    def clean(self):
        data = super().clean()
        if "key" in self.errors:  # a hidden field: say it where the operator looks
            self.add_error(None, self.errors.pop("key")[0])
        return data

    def limit_to_customer(self, customer: Customer) -> None:
        """Offer only the trading exchanges the customer is linked to (the others would be refused)."""
        linked = set(customer.exchange_links.values_list("exchange", flat=True))
        self.fields["exchange"].choices = [(value, label) for value, label in TRADING_EXCHANGE_CHOICES if value in linked]

    def clean_market(self):
        market = self.cleaned_data["market"]
        exchange = self.cleaned_data.get("exchange")
        if market is not None and exchange and market.exchange != exchange:
            raise forms.ValidationError(f"This market is on {market.get_exchange_display()}; choose the matching exchange.")
        return market

    def service_kwargs(self) -> dict:
        """``create_intent``'s arguments: the order (``OrderRequest``) and the intent's key."""
        from orders.services import OrderRequest

        data = self.cleaned_data
        return {"key": data["key"], "request": OrderRequest(
            customer=data["customer"], exchange=data["exchange"], market=data["market"],
            outcome=data["outcome"].strip(), side=data["side"], price=Decimal(data["price"]),
            size=Decimal(data["size"]), order_type=data["order_type"], expiration=data.get("expiration"),
            reason=data["reason"], **self.fee_fields(),
        )}

    def fee_fields(self) -> dict:
        return {}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why (kept on record).")


class CancelForm(ReasonForm):
    """Which orders to cancel: explicit ids, or all live orders of a customer (optionally one market)."""

    customer = forms.ModelChoiceField(queryset=Customer.objects.all(), widget=forms.HiddenInput, required=False)
    orders = forms.CharField(widget=forms.HiddenInput, required=False, help_text="Comma-separated order row ids.")
    exchange = forms.ChoiceField(choices=[("", "Any exchange"), *TRADING_EXCHANGE_CHOICES], required=False)
    market_native_id = forms.CharField(required=False, widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_orders(self) -> list[int] | None:
        raw = (self.cleaned_data.get("orders") or "").strip()
        if not raw:
            return None
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("Order ids must be numbers.") from None

    def clean(self):
        data = super().clean()
        if not data.get("customer") and not data.get("orders"):
            raise forms.ValidationError("Choose a customer or the orders to cancel.")
        return data


class KillSwitchForm(ReasonForm):
    """Which scope to freeze. The customer is typed (external id, email or Parsec id) and the market
    chosen from a title search, so the page never lists every customer or market."""

    scope = forms.ChoiceField(choices=KillSwitch.Scope.choices, widget=forms.RadioSelect)
    customer = forms.CharField(required=False, max_length=255, help_text="External id, email or Parsec customer id.")
    market = forms.CharField(required=False, max_length=64)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_customer(self) -> Customer | None:
        value = (self.cleaned_data.get("customer") or "").strip()
        if not value or self.data.get("scope") != KillSwitch.Scope.CUSTOMER:
            return None
        customer = Customer.objects.filter(customer_match(value) | Q(email__iexact=value)).order_by("pk").first()
        if customer is None:
            raise forms.ValidationError(f"No customer is named {value!r}.")
        return customer

    def clean_market(self) -> Market | None:
        value = (self.cleaned_data.get("market") or "").strip()
        if not value or self.data.get("scope") != KillSwitch.Scope.MARKET:
            return None
        market = Market.objects.filter(pk=int(value)).first() if value.isdigit() and len(value) < 19 else None
        market = market or Market.objects.filter(parsec_id=value).first()
        if market is None:
            raise forms.ValidationError("Choose the market from the search.")
        return market

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == KillSwitch.Scope.CUSTOMER and not data.get("customer") and "customer" not in self.errors:
            self.add_error("customer", "Choose the customer to freeze.")
        if scope == KillSwitch.Scope.MARKET and not data.get("market") and "market" not in self.errors:
            self.add_error("market", "Choose the market to freeze.")
        return data


def exchange_label(value: str) -> str:
    return Exchange(value).label if value in Exchange.values else value


class EscrowOrderForm(OrderForm):
    """The order form with the fee-escrow section (Polymarket; issue 6). The fee comes from the
    shared calculator (``orders.fees``) under the builder's configuration read from Parsec."""

    escrow_fields = ("collect_fee", "fee_bps")

    collect_fee = forms.BooleanField(required=False, label="Collect a builder fee through the escrow")
    fee_bps = forms.IntegerField(required=False, min_value=1, max_value=10_000, label="Fee (bps)",
                                 help_text="Leave empty for the builder's configured rate; raised to the minimum fee.")

    def __init__(self, *args, escrow_config=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.escrow_config = escrow_config
        if escrow_config is None or not escrow_config.fee_escrow_enabled:
            self.escrow_fields = ()
            del self.fields["collect_fee"], self.fields["fee_bps"]
        elif escrow_config.fee_bps is not None:
            self.fields["fee_bps"].widget.attrs["placeholder"] = str(escrow_config.fee_bps)

    def clean(self):
        from orders import fees

        data = super().clean()
        data["fee_base_units"] = None
        if not data.get("collect_fee"):
            return data
        if data.get("exchange") != Exchange.POLYMARKET:
            self.add_error("collect_fee", "The fee escrow is on Polymarket only.")
            return data
        customer = data.get("customer")
        if customer is not None and not customer.wallets.exists():
            self.add_error("collect_fee", "This customer has no wallet to pay the fee from.")
            return data
        if data.get("price") and data.get("size"):
            try:
                data["fee_base_units"] = fees.fee_for_config(config=self.escrow_config, price=data["price"],
                                                             size=data["size"], fee_bps=data.get("fee_bps"))
            except ValueError as exc:
                self.add_error("fee_bps", str(exc))
        return data

    def fee_fields(self) -> dict:
        from orders.escrow import new_fee_order_id

        if self.cleaned_data.get("fee_base_units"):
            return {"fee_base_units": self.cleaned_data["fee_base_units"], "fee_auth_order_id": new_fee_order_id()}
        return {}
