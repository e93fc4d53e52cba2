"""{% joined %}: a separator only between two parts that are there."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError


def render(source: str, **context: object) -> str:
    return Template("{% load separators %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("甲", "乙", "丙"), "甲 · 乙 · 丙"),
        (("甲", "", "丙"), "甲 · 丙"),
        (("", "", "丙"), "丙"),
        (("甲", "  ", ""), "甲"),
        (("", "", ""), ""),
    ],
)
def test_empty_parts_leave_no_separator(values, expected):
    a, b, c = values
    source = (
        "{% joined %}{{ a }}{% sep %} {{ b }} {% sep %}{% if c %}{{ c }}{% endif %}{% endjoined %}"
    )

    assert render(source, a=a, b=b, c=c) == expected


def test_the_separator_may_be_named_and_parts_stay_escaped():
    source = '{% joined " — " %}<b>{{ a }}</b>{% sep %}{{ b }}{% endjoined %}'

    assert render(source, a="类别", b="<依据>") == "<b>类别</b> — &lt;依据&gt;"
    assert render(source, a="类别", b="") == "<b>类别</b>"


def test_more_than_one_argument_is_a_template_error():
    with pytest.raises(TemplateSyntaxError):
        render('{% joined "a" "b" %}x{% endjoined %}')
