"""The trading refusals: ``core.errors.DomainError`` with the codes trading answers with."""

from __future__ import annotations

from core.errors import DomainError


class TradingError(DomainError):
    """A refusal the operator can act on. ``code`` is stable (the API reuses it)."""

    code_kinds = {
        "duplicate_unresolved_intent": "conflict", "intent_key_conflict": "conflict",
        "approval_required": "conflict", "approval_not_needed": "conflict",
        "already_engaged": "conflict", "already_released": "conflict",
    }


class OrderValidationError(TradingError):
    """The order breaks a rule checked before any call to Parsec; ``errors`` maps field → messages."""

    def __init__(self, errors: dict[str | None, list[str]], *, code: str = "invalid_order"):
        self.errors = errors
        first = next(iter(errors.values()))[0]
        super().__init__(first, code=code, fields=errors)
