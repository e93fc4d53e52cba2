"""`{{ text|masked }}`: free text (a case's 依据, a 劝返's words, a note) with every identifying
number in it masked however it was typed (core.idnumbers.mask_numbers). People type a child's
number into notes; the page must not show it whole where the mask is all a role may see."""

from __future__ import annotations

from typing import Any

from django import template

from baoxue.core.idnumbers import mask_numbers

register = template.Library()


@register.filter
def masked(value: Any) -> str:
    return mask_numbers("" if value is None else str(value))
