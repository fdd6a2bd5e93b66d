"""Input fields that take JSON as typed: a string is a string, a number is a number.

DRF coerces (12 → "12", "12" → 12, 0.1 → Decimal("0.1")); a client that sends the wrong type
has a bug we would hide. Money and prices travel as decimal strings, never JSON floats.
"""

from __future__ import annotations

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictRegexField(serializers.RegexField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DecimalStringField(serializers.DecimalField):
    default_error_messages = {"not_a_string": "Send decimals as strings (e.g. \"0.55\"), never as JSON numbers."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
