"""/api/v1/builder/*: builder key only; the end-user is named in the path or the body."""

from __future__ import annotations

import base64
import binascii
import json

from sandbox import accounts, render
from sandbox.errors import ParsecAPIError, bad_request, missing_parameter
from sandbox.models import Customer, ExchangeLink, Wallet


def _builder(ctx):
    if ctx.builder is None:
        raise ParsecAPIError(403, "unauthorized", "builder endpoints require a builder account")
    return ctx.builder


def _read_shape(customers: list[Customer]) -> list[dict]:
    """The user read shape for many users in three queries."""
    ids = [c.pk for c in customers]
    links: dict[int, list[str]] = {}
    for customer_id, exchange in ExchangeLink.objects.filter(customer_id__in=ids).values_list("customer_id", "exchange"):
        links.setdefault(customer_id, []).append(exchange)
    wallets: dict[int, Wallet] = {}
    for wallet in Wallet.objects.filter(customer_id__in=ids, active=True).order_by("pk"):
        wallets.setdefault(wallet.customer_id, wallet)
    return [render.user(c, linked=sorted(links.get(c.pk, [])), primary_wallet=wallets.get(c.pk)) for c in customers]


def create_user(ctx):
    builder = _builder(ctx)
    body = ctx.body
    customer, created = accounts.create_user(
        builder=builder, external_id=body.get("external_id"), email=body.get("email"),
        qps_limit=body.get("qps_limit"), eoa_address=body.get("eoa_address"),
    )
    wallet = accounts.primary_wallet(customer)
    data = {
        "customer_id": str(customer.customer_id),
        "external_id": customer.external_id,
        "api_key": customer.api_key,
        "status": accounts.conf.SANDBOX_USER_STATUS,
        "linked_exchanges": accounts.linked_exchanges(customer),
        **render.builder_fields(builder),
    }
    if wallet is not None:
        data["wallet"] = render.wallet(wallet)
    return (201 if created else 200), data


def list_users(ctx):
    builder = _builder(ctx)
    try:
        limit = int(ctx.query.get("limit", 50))
    except ValueError:
        raise bad_request("limit must be an integer") from None
    limit = min(max(limit, 1), 100)
    users = Customer.objects.select_related("builder").filter(builder=builder, kind=Customer.Kind.END_USER, active=True)
    cursor = ctx.query.get("cursor")
    if cursor:
        try:
            after = json.loads(base64.b64decode(cursor, validate=True))["builder_external_id"]
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise bad_request("cursor is not a value returned as next_cursor") from None
        users = users.filter(external_id__gt=after)
    page = list(users.order_by("external_id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    next_cursor = None
    if more:
        next_cursor = base64.b64encode(json.dumps({"builder_external_id": page[-1].external_id}).encode()).decode()
    return 200, {"users": _read_shape(page), "count": len(page), "next_cursor": next_cursor}


def get_user(ctx, customer_id):
    customer = accounts.owned_user(builder=_builder(ctx), customer_id=customer_id)
    return 200, _read_shape([customer])[0]


def update_user(ctx, customer_id):
    customer = accounts.owned_user(builder=_builder(ctx), customer_id=customer_id)
    customer = accounts.update_user(customer=customer, qps_limit=ctx.body.get("qps_limit"))
    return 200, _read_shape([customer])[0]


def deactivate_user(ctx, customer_id):
    customer = accounts.owned_user(builder=_builder(ctx), customer_id=customer_id)
    accounts.deactivate_user(customer=customer)
    return 204, None


def onboard(ctx):
    builder = _builder(ctx)
    customer_id = ctx.body.get("customer_id")
    if customer_id is None:
        raise missing_parameter("customer_id is required")
    customer = accounts.owned_user(builder=builder, customer_id=customer_id, status=403)
    return 200, accounts.onboard(customer=customer, body=ctx.body)


def pool(ctx):
    return 200, accounts.pool(_builder(ctx))


def escrow_config(ctx):
    return 200, accounts.escrow_config(_builder(ctx))
