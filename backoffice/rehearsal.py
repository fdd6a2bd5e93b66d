"""The rehearsal page: drive the sandbox as a rehearsal needs (move, close, resolve or void a
market, credit a customer, inject a fault from presets and clear them, advance the clock).

Present only when the product points at the sandbox (``parsec.sandbox_control.available``), for
Administrators and Operations (the admin's login and second factor come first). Every action is
audited, whatever its outcome; the control plane's key stays on the server (the gateway adds it).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from audit.services import record_action
from core.roles import ADMINISTRATORS, OPERATIONS, has_role
from customers.enums import TRADING_EXCHANGES
from customers.filters import customer_match
from customers.models import Customer
from orders.models import Market
from parsec import sandbox_control
from parsec.errors import explain

ACTIONS = ("move", "close", "resolve", "void", "credit", "fault", "clear_faults", "advance_clock")
CLOCK_STEPS = {"3600": "1 hour", "86400": "1 day", "604800": "1 week", "2592000": "30 days"}


def may_rehearse(user) -> bool:
    return sandbox_control.available() and (has_role(user, ADMINISTRATORS) or has_role(user, OPERATIONS))


class MarketActionForm(forms.Form):
    market = forms.ModelChoiceField(queryset=Market.objects.all(), widget=forms.HiddenInput)
    outcome = forms.CharField(required=False, max_length=100)
    price = forms.DecimalField(required=False, min_value=Decimal("0.001"), max_value=Decimal("0.999"), decimal_places=3)


class CreditForm(forms.Form):
    customer = forms.CharField(max_length=255)
    exchange = forms.ChoiceField(choices=[(e.value, e.label) for e in TRADING_EXCHANGES])
    amount_usdc = forms.DecimalField(min_value=Decimal("0.000001"), max_value=Decimal(10**9), decimal_places=6)

    def clean_customer(self) -> Customer:
        value = self.cleaned_data["customer"].strip()
        customer = Customer.objects.filter(customer_match(value) | Q(email__iexact=value)).order_by("pk").first()
        if customer is None:
            raise forms.ValidationError(f"No customer is named {value!r}.")
        return customer


class FaultForm(forms.Form):
    preset = forms.ChoiceField(choices=[(k, v["label"]) for k, v in sandbox_control.FAULT_PRESETS.items()])
    customer = forms.CharField(required=False, max_length=255, help_text="Optional: only this customer's calls.")

    def clean_customer(self) -> Customer | None:
        value = (self.cleaned_data.get("customer") or "").strip()
        if not value:
            return None
        customer = Customer.objects.filter(customer_match(value)).order_by("pk").first()
        if customer is None:
            raise forms.ValidationError(f"No customer is named {value!r}.")
        return customer


class ClockForm(forms.Form):
    seconds = forms.TypedChoiceField(choices=list(CLOCK_STEPS.items()), coerce=int)


def _run(action: str, data, control: sandbox_control.SandboxControl) -> tuple[dict, Customer | None, str]:
    """Parse one action's form and call the control plane: (what was asked, customer, what happened)."""
    if action in ("move", "close", "resolve", "void"):
        form = MarketActionForm(data)
        if not form.is_valid():
            raise ValueError(form.errors.as_text())
        market, outcome, price = form.cleaned_data["market"], form.cleaned_data["outcome"], form.cleaned_data["price"]
        asked = {"market": market.parsec_id, "outcome": outcome, "price": str(price) if price is not None else None}
        if action == "move":
            if price is None:
                raise ValueError("Give the price to move the market to (between 0 and 1).")
            control.move_market(market.parsec_id, price=price, outcome=outcome or None)
            return asked, None, f"{market.question}: {outcome or 'the market'} moved to {price}."
        if action == "close":
            control.close_market(market.parsec_id)
            return asked, None, f"{market.question}: closed to trading."
        if action == "resolve":
            if not outcome:
                raise ValueError("Choose the winning outcome.")
            control.resolve_market(market.parsec_id, outcome=outcome)
            return asked, None, f"{market.question}: resolved, {outcome} wins. The mirror learns of it at the next sync."
        control.void_market(market.parsec_id)
        return asked, None, f"{market.question}: voided. The mirror learns of it at the next sync."
    if action == "credit":
        form = CreditForm(data)
        if not form.is_valid():
            raise ValueError(form.errors.as_text())
        customer, exchange, amount = form.cleaned_data["customer"], form.cleaned_data["exchange"], form.cleaned_data["amount_usdc"]
        control.credit(customer_id=str(customer.parsec_customer_id), exchange=exchange, amount_usdc=amount)
        return ({"exchange": exchange, "amount_usdc": str(amount)}, customer,
                f"{customer.external_id} credited {amount} USDC on {exchange}.")
    if action == "fault":
        form = FaultForm(data)
        if not form.is_valid():
            raise ValueError(form.errors.as_text())
        preset, customer = form.cleaned_data["preset"], form.cleaned_data["customer"]
        rule = control.add_fault(preset, customer_id=str(customer.parsec_customer_id) if customer else None)
        label = sandbox_control.FAULT_PRESETS[preset]["label"]
        return {"preset": preset, "rule": rule}, customer, f"Fault injected: {label}{f' for {customer.external_id}' if customer else ''}."
    if action == "clear_faults":
        cleared = control.clear_faults().get("deleted", 0)
        return {}, None, f"Faults cleared ({cleared} rule{'s' if cleared != 1 else ''})."
    form = ClockForm(data)
    if not form.is_valid():
        raise ValueError(form.errors.as_text())
    seconds = form.cleaned_data["seconds"]
    now = control.advance_clock(seconds=seconds).get("now")
    return {"seconds": seconds}, None, f"The sandbox clock moved {CLOCK_STEPS[str(seconds)]} ahead: it is now {now}."


def rehearsal_view(request):
    if not sandbox_control.available():
        raise Http404("The product does not point at the sandbox.")
    if not may_rehearse(request.user):
        raise PermissionDenied
    control = sandbox_control.SandboxControl()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return HttpResponseNotAllowed(["GET"])
        reason = (request.POST.get("reason") or "").strip() or "rehearsal"
        try:
            asked, customer, done = _run(action, request.POST, control)
        except (ValueError, InvalidOperation) as exc:
            record_action(actor=request.user, action=f"rehearsal.{action}", reason=reason, request=dict(request.POST.items()),
                          outcome="rejected", response={"error": str(exc)[:500]})
            messages.error(request, str(exc))
        except Exception as exc:  # the control plane's refusal or failure, in the gateway's words
            explained = explain(exc)
            record_action(actor=request.user, action=f"rehearsal.{action}", reason=reason, request=dict(request.POST.items()),
                          outcome="error", response={"error": explained.message[:500], "code": explained.code})
            messages.error(request, f"The sandbox refused: {explained.message}")
        else:
            record_action(actor=request.user, action=f"rehearsal.{action}", customer=customer, reason=reason, request=asked,
                          outcome="ok", response={"result": done})
            messages.success(request, done)
        return redirect("rehearsal")
    try:
        clock, faults, error = control.clock(), control.faults(), ""
    except Exception as exc:
        clock, faults, error = None, [], explain(exc).message
    market = Market.objects.filter(pk=int(request.GET["market"])).first() if request.GET.get("market", "").isdigit() else None
    state = None
    if market is not None and not error:
        try:
            state = {**control.market_state(market.parsec_id), "error": ""}
        except Exception as exc:
            state = {"status": "", "winning_outcome": None, "error": explain(exc).message}
    return TemplateResponse(request, "backoffice/rehearsal.html", {
        **admin.site.each_context(request), "title": "Rehearsal (sandbox)", "clock": clock, "faults": faults, "error": error,
        "market": market, "market_state": state, "presets": sandbox_control.FAULT_PRESETS, "clock_steps": CLOCK_STEPS,
        "exchanges": [(e.value, e.label) for e in TRADING_EXCHANGES],
        "markets": Market.objects.filter(status=Market.Status.ACTIVE).order_by("question")[:200],
    })
