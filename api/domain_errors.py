"""Domain exceptions (services, gateway) → API errors, using the admin's codes and messages."""

from __future__ import annotations


def translate_domain_error(exc):
    return None
