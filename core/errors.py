"""The one base of every refusal a service can answer with.

A service raises a ``DomainError`` subclass with a stable ``code`` (a client may branch on it), a
sentence for people (``message``), the form field it is about (``field``, or per-field messages in
``fields``) and a ``kind`` that says what sort of refusal it is. Faces translate by kind only:
the API picks the HTTP status from it (``api.errors``), the admin shows the message on the form.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "conflict", "forbidden", "not_found", "unavailable"]
KINDS: tuple[Kind, ...] = ("invalid", "conflict", "forbidden", "not_found", "unavailable")


class DomainError(Exception):
    """A refusal the caller can act on.

    - ``invalid``: the request breaks a rule (a person can correct it);
    - ``conflict``: the state of things is in the way (retry later, reconcile, or take it first);
    - ``forbidden``: this actor may not do this;
    - ``not_found``: what the request names does not exist;
    - ``unavailable``: a service we depend on is down; nothing was done.
    """

    kind: Kind = "invalid"
    default_code = "invalid"
    # A subclass may say which of its codes are of another kind than its own (declared beside
    # the class, so the domain, not a face, decides what a code means).
    code_kinds: dict[str, Kind] = {}

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 fields: dict[str | None, list[str]] | None = None, kind: Kind | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.kind = kind or self.code_kinds.get(self.code) or type(self).kind
        if self.kind not in KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}")
        self.fields: dict[str | None, list[str]] = fields if fields is not None else ({field: [message]} if field else {})

    def __str__(self) -> str:
        return self.message
