"""Input fields that take JSON as typed: a string is a string, a number is a number.

DRF coerces (12 → "12", "12" → 12, 0.1 → Decimal("0.1")); a client that sends the wrong type
has a bug we would hide. Money and prices travel as decimal strings, never JSON floats.
"""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string kept as sent: no JSON-number coercion, and no silent trimming (a blank-looking
    value reaches the business rules and is refused there, by name, instead of vanishing)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

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
    """A non-negative decimal written as a plain string ("0.55", "10"): its shape is checked here,
    its range (price within 0.01 to 0.99, size above the market's minimum) by the service, as a 422."""

    default_error_messages = {
        "not_a_string": "Send decimals as strings (e.g. \"0.55\"), never as JSON numbers.",
        "shape": "Write it as digits with an optional decimal point, e.g. \"0.55\" or \"10\".",
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        whole = self.max_digits - self.decimal_places
        self.pattern = rf"^[0-9]{{1,{whole}}}(\.[0-9]{{1,{self.decimal_places}}})?$"

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not re.fullmatch(self.pattern, data):
            self.fail("shape")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class DecimalStringFieldSchema(OpenApiSerializerFieldExtension):
    target_class = DecimalStringField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "format": "decimal", "pattern": self.target.pattern}


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """DRF refuses NUL characters in any string: the schema says so."""

    target_class = StrictCharField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema.setdefault("pattern", r"^[^\u0000]*$")
        return schema
