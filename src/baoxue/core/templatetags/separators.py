"""{% joined %}: parts of a line joined by a separator that appears only between two parts
that are there, so an empty field leaves no "· ·" and no leading or trailing "·".

    {% load separators %}
    {% joined %}{{ school.code }}{% sep %}{% if school.boarding %}寄宿{% endif %}{% endjoined %}
    {% joined " — " %}<strong>{{ category }}</strong>{% sep %}{{ basis }}{% endjoined %}

Each part is rendered as usual (escaped) and counts as empty when it renders to whitespace.
The separator is " · " unless the tag names another.
"""

from __future__ import annotations

from django import template
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

DEFAULT_SEPARATOR = " · "


class JoinedNode(template.Node):
    def __init__(self, parts: list[NodeList], separator: FilterExpression | None) -> None:
        self.parts = parts
        self.separator = separator

    def render(self, context: Context) -> SafeString:
        separator = (
            DEFAULT_SEPARATOR
            if self.separator is None
            else str(conditional_escape(self.separator.resolve(context)))
        )
        rendered = (part.render(context).strip() for part in self.parts)
        return mark_safe(separator.join(p for p in rendered if p))  # noqa: S308 (parts are rendered, so escaped)


@register.tag("joined")
def do_joined(parser: Parser, token: Token) -> JoinedNode:
    bits = token.split_contents()
    if len(bits) > 2:
        raise template.TemplateSyntaxError("{% joined %} takes at most one argument, the separator")
    separator = parser.compile_filter(bits[1]) if len(bits) == 2 else None
    parts = []
    while True:
        parts.append(parser.parse(("sep", "endjoined")))
        if parser.next_token().contents == "endjoined":
            return JoinedNode(parts, separator)
