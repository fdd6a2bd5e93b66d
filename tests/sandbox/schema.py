"""Validate response bodies against the component schemas of openapi.yaml (jsonschema, draft 2020-12).

Spec bugs worked around here (each a one-line patch of the loaded document, never of a response):
- The document is OpenAPI 3.1 but a few properties still use 3.0's ``nullable: true`` (MarketTrade
  ``tx_hash``/``outcome``/``yes_price``/``no_price``/``taker_address``, TradesResponse
  ``next_cursor``); 3.1 validators ignore ``nullable``, so it is rewritten as ``type: [T, "null"]``.
- ``OrderbookResponse.token_id`` is a required string although Kalshi has no token ids; the
  sandbox sends ``""`` for Kalshi (no patch needed, noted for the README).
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[2] / "parsec" / "spec" / "openapi.yaml"


def _fix_nullable(node):
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            node.pop("nullable")
        for value in node.values():
            _fix_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _fix_nullable(value)
    return node


@functools.cache
def spec() -> dict:
    return _fix_nullable(yaml.safe_load(SPEC_PATH.read_text()))


@functools.cache
def _validator(name: str, array: bool) -> Draft202012Validator:
    ref = {"$ref": f"#/components/schemas/{name}"}
    schema = {**spec(), **({"type": "array", "items": ref} if array else ref)}
    return Draft202012Validator(schema)


def assert_valid(body, name: str, *, array: bool = False) -> None:
    """Fail with every schema violation of ``body`` against components.schemas[name]."""
    errors = sorted(_validator(name, array).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def body(response) -> object:
    """The JSON body of an SDK raw response or an httpx/requests response."""
    return response.json()
