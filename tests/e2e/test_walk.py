"""The browser walk: every page the journeys visit and every admin list (and a change page of each
list that has a row), as an Administrator signed in with the second factor, in a real Chromium at
1440 px. Each page fails the walk on what a person would trip over:

- a number in scientific notation (``1E+1``, ``2.5E+3``) or with more decimals than any precision
  we show (``0.62000000``, a 16-decimal P&L), a size with trailing zeros (``10.0000``), or an amount
  without its thousands separator (``5993.20``);
- a customer's Parsec UUID on screen where its external id exists;
- a page wider than the window (sideways scroll), or a list table wider than its frame;
- an input whose text colour is its background's (invisible until focused);
- a 4xx/5xx answer, for the page or anything it loads from us.

And the sign-in journey: from a bookmarked /admin/login/, a new Administrator enrols the second
factor and lands on the dashboard; signing in again asks for the code and lands there too.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.e2e.conftest import PASSWORD, SCREENSHOTS, shot

pytestmark = [pytest.mark.e2e]

E_NOTATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]\d+(?![\w])")
TOO_MANY_DECIMALS = re.compile(r"(?<![\w.])-?\d[\d,]*\.\d{7,}(?![\w])")
# 2 places are USDC's, 6 its base units' and 3 a 0.001 tick's: 4 or 5 ending in 00 are noise.
TRAILING_ZEROS = re.compile(r"(?<![\w.])-?\d[\d,]*\.\d{2,3}00(?![\d\w])")
NO_SEPARATORS = re.compile(r"(?<![\w.,:-])\d{4,}\.\d{2}(?![\w])")  # 5993.20: money needs its thousands separator
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)

# What a person reads: the body's text without code blocks (raw payloads are Parsec's own
# strings), hidden parts, and the parts of a page labelled as the Parsec id itself.
VISIBLE_TEXT_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, template, textarea, [hidden], .hidden, [data-raw],'
    + ' [data-parsec-id], .field-raw_payload').forEach(e => e.remove());
  return body.innerText;
}"""

OVERFLOW_JS = """() => {
  const wide = [];
  const page = document.scrollingElement;
  if (page.scrollWidth > window.innerWidth) wide.push(`page ${page.scrollWidth}px > ${window.innerWidth}px`);
  const table = document.querySelector('#result_list');
  if (table) {
    const frame = table.parentElement;
    if (table.scrollWidth > frame.clientWidth + 1) wide.push(`list ${table.scrollWidth}px > frame ${frame.clientWidth}px`);
  }
  return wide;
}"""

# An input nobody sees: its text in its background's colour, or no box at all (no border, no
# background of its own, no shadow: Django's bare inputs under Unfold's stylesheet, until focused).
CONTRAST_JS = """() => {
  const clear = (c) => !c || c === 'transparent' || /rgba\\(.*,\\s*0\\)$/.test(c);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const bg = getComputedStyle(node).backgroundColor;
      if (!clear(bg)) return bg;
    }
    return 'rgb(255, 255, 255)';
  };
  const bad = [];
  document.querySelectorAll('input, select, textarea').forEach(el => {
    if (['hidden', 'checkbox', 'radio', 'submit', 'button'].includes(el.type)) return;
    const box = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    // Not shown: hidden, or a select an autocomplete widget draws over (select2 keeps it 1 px, aria-hidden).
    if (box.width <= 1 || box.height <= 1 || st.visibility === 'hidden' || el.closest('[hidden], .hidden')
        || el.getAttribute('aria-hidden') === 'true') return;
    const name = el.name || el.id || el.outerHTML.slice(0, 60);
    if (st.color === background(el)) { bad.push(`${name}: text in its background's colour`); return; }
    // The box may be the input's own or its wrapper's (a search field's frame holds its icon too).
    const boxed = (node) => {
      const s = getComputedStyle(node);
      const around = background(node.parentElement);
      const border = ['Top', 'Bottom', 'Left', 'Right'].some(side => parseFloat(s[`border${side}Width`]) > 0
        && !clear(s[`border${side}Color`]) && s[`border${side}Color`] !== around);
      return border || (!clear(s.backgroundColor) && s.backgroundColor !== around) || s.boxShadow !== 'none';
    };
    if (![el, el.parentElement, el.parentElement && el.parentElement.parentElement].some(n => n && boxed(n))) {
      bad.push(`${name}: no visible box`);
    }
  });
  return bad;
}"""


def totp_code(device: TOTPDevice, *, ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def seed_every_list(administrator) -> dict:
    """Rows behind every list: the sandbox's demo customers and markets through the real sync, the
    mirror's factories, and one row of each operator-made kind (intent, switch, approval, escrow
    record, settlement, review, token, lockout)."""
    from axes.models import AccessAttempt

    from api.models import ApiToken
    from api.tokens import issue_token
    from approvals.models import ApprovalRequest
    from audit.services import record_action
    from compliance.models import Review
    from customers.models import Customer
    from orders.models import FeeEscrowRecord, KillSwitch, OrderIntent, Settlement
    from tests import factories as f

    call_command("sync_parsec", "--all")
    data = f.mirror_rows(3)
    customer, market, order = data["customers"][0], data["markets"][0], data["orders"][0]
    Customer.objects.filter(pk=customer.pk).update(last_full_sync_at=timezone.now())
    f.order(customer, market, price="0.62", size="2500", status="open")  # the 2.5E+3 that reached an approver
    f.position(customer, market, "No", size="10", average_price="0.3", current_price="0.2")
    alert = f.large_notional_alert()
    Review.objects.create(alert=alert, reviewer=administrator, disposition=Review.Disposition.choices[0][0],
                          note="Checked the customer's history.", reviewed_at=timezone.now())
    approval = ApprovalRequest.objects.create(
        action="orders.place_large", summary="buy 2,500 Yes @ 0.62", customer=customer, requested_by=administrator,
        expires_at=timezone.now() + timedelta(hours=1), payload={})
    intent = OrderIntent.objects.create(
        customer=customer, exchange=market.exchange, market=market, market_native_id=market.exchange_market_id,
        outcome="Yes", side="buy", price=Decimal("0.62"), size=Decimal("2500"), reason="Walk", created_by=administrator,
        status=OrderIntent.Status.AWAITING_APPROVAL, approval=approval, fee_base_units=137_500)
    FeeEscrowRecord.objects.create(
        fee_order_id="0x" + "ab" * 32, customer=customer, intent=intent, order=order, payer="0x" + "12" * 20,
        fee_base_units=137_500, deadline=int(time.time()) + 3600, affiliate_fee_bps=1000, state="distributed",
        affiliate_base_units=13_750, treasury_base_units=123_750)
    Settlement.objects.create(
        customer=customer, exchange=market.exchange, market=market, market_native_id=market.exchange_market_id,
        outcome="Yes", kind="resolved", result="won", size=Decimal("4"), average_price=Decimal("0.55"),
        payout_per_share=Decimal("1"), amount_base_units=4_000_000, basis="position", settled_at=timezone.now())
    KillSwitch.objects.create(scope="customer", customer=customer, reason="Walk: a frozen customer", engaged_by=administrator,
                              released_by=administrator, released_at=timezone.now())
    record_action(actor=administrator, action="walk.seed", customer=customer, reason="Rows for the walk", outcome="ok",
                  request={"size": "2500"})
    issue_token(name="walk tool", role=ApiToken.Role.values[0], created_by=administrator)
    AccessAttempt.objects.create(username="mallory", ip_address="10.0.0.9", user_agent="walk", get_data="", post_data="",
                                 http_accept="*/*", path_info="/admin/login/", failures_since_start=5)
    return {"customer": customer, "market": market, "intent": intent, "alert": alert, "approval": approval}


def journey_pages(seeded) -> list[str]:
    customer, market = seeded["customer"], seeded["market"]
    pages = [
        "/admin/", reverse("customer_360_search"), reverse("customer_360", args=[customer.pk]),
        reverse("admin:orders_market_change", args=[market.pk]), reverse("admin:orders_market_resolving_soon"),
        reverse("admin:orders_orderintent_place") + f"?customer={customer.pk}",
        reverse("admin:orders_orderintent_cancel") + f"?customer={customer.pk}",
        reverse("admin:orders_orderintent_detail", args=[seeded["intent"].key]),
        reverse("admin:orders_killswitch_engage") + "?scope=builder",
        reverse("admin:approvals_approvalrequest_decide", args=[seeded["approval"].pk]),
        reverse("admin:compliance_alert_export", args=[customer.pk]),
        reverse("admin:compliance_alert_statement", args=[customer.pk]) + f"?month={timezone.now():%Y-%m}&format=html",
        reverse("admin:sync_syncrun_start") + f"?customer={customer.pk}",
        reverse("admin:customers_customer_new_end_user"),
        reverse("admin:customers_customer_onboard", args=[customer.pk]),
        reverse("admin:customers_customer_qps_limit", args=[customer.pk]),
        reverse("admin:customers_customer_deactivate", args=[customer.pk]),
        reverse("admin:otp_enrol"),
    ]
    return pages


def admin_pages() -> list[str]:
    pages = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        try:
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        except NoReverseMatch:
            continue
        row = model_admin.get_queryset(_AdminRequest()).order_by("pk").first() if model.objects.exists() else None
        if row is not None:
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    return pages


class _AdminRequest:
    """Enough of a request for a ModelAdmin's get_queryset (none of ours reads more than the user)."""

    def __init__(self):
        from django.contrib.auth.models import AnonymousUser

        self.user, self.GET, self.META = AnonymousUser(), {}, {}


def check_page(page, url: str, customer_uuids: set[str], failures: list[str], bad_answers: list[str]) -> None:
    bad_answers.clear()
    response = page.goto(url)
    # Not "networkidle": pages that follow a running job poll every second and never go quiet.
    page.wait_for_load_state("load")
    page.wait_for_timeout(250)
    status = response.status if response else 0
    if status >= 400:
        failures.append(f"{url}: answered {status}")
        return
    text = page.evaluate(VISIBLE_TEXT_JS)
    for pattern, what in ((E_NOTATION, "scientific notation"), (TOO_MANY_DECIMALS, "more decimals than any precision"),
                          (TRAILING_ZEROS, "trailing zeros"), (NO_SEPARATORS, "no thousands separator")):
        found = sorted(set(pattern.findall(text)))
        if found:
            failures.append(f"{url}: {what}: {found[:5]}")
    shown = {match.lower() for match in UUID.findall(text)} & customer_uuids
    if shown:
        failures.append(f"{url}: a customer's Parsec UUID instead of its external id: {sorted(shown)[:3]}")
    for wide in page.evaluate(OVERFLOW_JS):
        failures.append(f"{url}: wider than the window at 1440 px: {wide}")
    invisible = page.evaluate(CONTRAST_JS)
    if invisible:
        failures.append(f"{url}: inputs with zero contrast: {invisible[:5]}")
    drawer = page.locator("a", has_text=re.compile(r"^\s*Filters"))
    if drawer.count():  # a list's filters (the customer and market autocompletes among them) are inputs too
        drawer.first.click()
        page.wait_for_timeout(300)
        invisible = page.evaluate(CONTRAST_JS)
        if invisible:
            failures.append(f"{url} (filters open): inputs with zero contrast: {invisible[:5]}")
    failures.extend(f"{url}: {answer}" for answer in bad_answers)


def sign_in(page, username: str, device: TOTPDevice | None, *, ahead: int = 0) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    if device is not None:
        page.fill("#id_otp_token", totp_code(device, ahead=ahead))
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()


def test_every_page_reads_right_at_1440_px(page, parsec_settings, administrator, live_server):
    parsec_settings.OTP_REQUIRED = True
    device = TOTPDevice.objects.create(user=administrator, name="walk", confirmed=True)
    seeded = seed_every_list(administrator)
    from customers.models import Customer

    customer_uuids = {str(ref).lower() for ref in Customer.objects.values_list("parsec_customer_id", flat=True)}

    bad_answers: list[str] = []
    page.on("response", lambda r: bad_answers.append(f"{r.request.method} {r.url} answered {r.status}")
            if r.status >= 400 and r.url.startswith(live_server.url) else None)

    sign_in(page, administrator.username, device)
    assert page.url == f"{live_server.url}/admin/", page.url
    assert page.locator("#two-factor-banner").count() == 0  # enrolled: no banner

    failures: list[str] = []
    pages = journey_pages(seeded) + admin_pages()
    for url in pages:
        check_page(page, url, customer_uuids, failures, bad_answers)
        if "/change/" not in url:
            shot(page, "walk-" + re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-")[:80])  # filters open on lists
    (SCREENSHOTS.parent / "walk-failures.txt").write_text("\n".join(failures))
    assert not failures, "\n".join(failures)
    assert len(pages) > 40


def test_sign_in_from_a_bookmarked_login_page_with_enrolment(page, parsec_settings, live_server, django_user_model):
    parsec_settings.OTP_REQUIRED = True
    newcomer = django_user_model.objects.create_user(username="nina.admin", password=PASSWORD, is_staff=True)
    newcomer.groups.add(Group.objects.get(name="Administrators"))

    # A bookmarked /admin/login/ (no ?next=): the inputs are visible before anything is focused.
    page.goto("/admin/login/")
    assert page.evaluate(CONTRAST_JS) == []
    shot(page, "signin-01-login")
    sign_in(page, newcomer.username, None)
    page.wait_for_url("**/admin/security/two-factor/")
    shot(page, "signin-02-enrol")

    # Enrolment: the key shown by hand (what a person types into the authenticator app).
    key = page.locator("#otp-key").inner_text().replace(" ", "")
    device = TOTPDevice.objects.get(user=newcomer, confirmed=False)
    assert key and device.key
    page.fill("#id_otp_token", totp_code(device))
    page.click("#otp-enrol-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Operations" in page.title() or page.locator("h1").count()
    assert page.locator("#two-factor-banner").count() == 0
    shot(page, "signin-03-dashboard-after-enrolment")

    # The user menu links the second factor's page.
    assert page.locator(f'a[href="{reverse("admin:otp_enrol")}"]').count() >= 1

    # Signing out and in again asks for the code and lands on the dashboard, not /accounts/profile/.
    page.context.clear_cookies()
    device.refresh_from_db()
    sign_in(page, newcomer.username, device, ahead=1)  # the next step's code: a code is never accepted twice
    assert page.url == f"{live_server.url}/admin/", page.url
    shot(page, "signin-04-dashboard")
