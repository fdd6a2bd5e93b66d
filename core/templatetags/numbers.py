"""Template filters over ``core.formatting``: ``{% load numbers %}`` then ``{{ x|usdc }}``,
``{{ fee|usdc_units }}``, ``{{ p|price:market.tick_size }}``, ``{{ n|size }}``, ``{{ t|when }}``."""

from django import template

from core import formatting

register = template.Library()


@register.filter
def usdc(value, places=2):
    return formatting.usdc(value, places=int(places))


@register.filter
def usdc_units(value, places=2):
    return formatting.usdc_base_units(value, places=int(places))


@register.filter
def signed_usdc(value):
    return formatting.signed_usdc(value)


@register.filter
def price(value, tick=None):
    return formatting.price(value, tick)


@register.filter
def size(value):
    return formatting.size(value)


@register.filter
def plain(value):
    return formatting.plain(value)


@register.filter
def when(value):
    return formatting.when(value)


@register.filter
def duration(value):
    return formatting.duration(value)
