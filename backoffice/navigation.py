"""The admin sidebar, grouped by job. An entry appears once its model exists and
the user may view it, so each app's issue only has to list its models here."""

from __future__ import annotations

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from approvals.selectors import waiting_count

# (group title, [(item title, material icon, "app_label.model_name", or "app_label.model_name@url name"
# for a page of that model's admin)])
GROUPS: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("Customers", [
        ("End-users", "group", "customers.customer"),
        ("Wallets", "account_balance_wallet", "customers.wallet"),
        ("Exchange links", "link", "customers.exchangelink"),
        ("Balance history", "monitoring", "customers.balancesnapshot"),
    ]),
    ("Trading", [
        ("Order intents", "pending_actions", "orders.orderintent"),
        ("Orders", "receipt_long", "orders.order"),
        ("Fills", "done_all", "orders.fill"),
        ("Positions", "stacked_line_chart", "orders.position"),
        ("Markets", "storefront", "orders.market"),
        ("Resolving soon", "event_upcoming", "orders.market@admin:orders_market_resolving_soon"),
        ("Settlements", "gavel", "orders.settlement"),
        ("Approval requests", "how_to_reg", "approvals.approvalrequest"),
        ("Kill switches", "block", "orders.killswitch"),
    ]),
    ("Escrow", [
        ("Fee escrow records", "savings", "orders.feeescrowrecord"),
    ]),
    ("Compliance", [
        ("Alerts", "notification_important", "compliance.alert"),
        ("Reviews", "fact_check", "compliance.review"),
        ("Audit log", "history_edu", "audit.auditevent"),
    ]),
    ("System", [
        ("Sync runs", "sync", "sync.syncrun"),
        ("Parsec call log", "swap_horiz", "parsec.outboundcall"),
        ("API tokens", "key", "api.apitoken"),
        ("Staff users", "badge", "auth.user"),
        ("Roles", "shield_person", "auth.group"),
    ]),
]


def _model_item(request, title: str, icon: str, label: str) -> dict | None:
    label, _, url_name = label.partition("@")
    app_label, _, model_name = label.partition(".")
    try:
        apps.get_model(app_label, model_name)
        link = reverse(url_name or f"admin:{app_label}_{model_name}_changelist")
    except (LookupError, NoReverseMatch):
        return None
    if not request.user.has_perm(f"{app_label}.view_{model_name}"):
        return None
    return {"title": title, "icon": icon, "link": link}


# Entries that carry a count for the people who act on it: (model label, permission, count(request)).
BADGES = {"approvals.approvalrequest": ("approvals.approve_request", waiting_count)}


def _with_badge(request, label: str, item: dict) -> dict:
    permission, count = BADGES.get(label, (None, None))
    if count is not None and request.user.has_perm(permission):
        waiting = count(request)
        if waiting:  # Unfold shows a badge whenever the key is truthy
            item.update(badge=str(waiting), badge_variant="warning", badge_style="solid")
    return item


def _pages(request, title: str) -> list[dict]:
    """Pages that are not a model's: the rehearsal page (System) when the product points at the sandbox."""
    if title != "System":
        return []
    from backoffice.rehearsal import may_rehearse

    return [{"title": "Rehearsal (sandbox)", "icon": "science", "link": reverse("rehearsal")}] if may_rehearse(request.user) else []


def sidebar(request) -> list[dict]:
    groups = []
    for title, entries in GROUPS:
        items = [_with_badge(request, entry[2], item) for entry in entries if (item := _model_item(request, *entry))]
        items += _pages(request, title)
        if items:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": items})
    return groups
