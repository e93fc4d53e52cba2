from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from baoxue.registry.models import Child, Region, School

TAG_CHOICES = [
    ("", _("全部标签")),
    ("key_group", _("脱贫户/监测户")),
    ("left_behind", _("留守儿童")),
    ("orphan", _("孤儿")),
    ("disability", _("残疾儿童")),
    ("migrant", _("随迁子女")),
    ("id_flagged", _("身份证号有问题")),
]


class ChildFilterForm(forms.Form):
    q = forms.CharField(
        label=_("搜索"),
        required=False,
        max_length=40,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("姓名、拼音首字母（如 wjh）或身份证号后几位"),
                "autofocus": True,
            }
        ),
    )
    village = forms.TypedChoiceField(label=_("村"), required=False, coerce=int, empty_value=None)
    school = forms.TypedChoiceField(label=_("学校"), required=False, coerce=int, empty_value=None)
    grade = forms.TypedChoiceField(
        label=_("年级"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("全部年级"))] + [(g, _("%(g)s年级") % {"g": g}) for g in range(1, 10)],
    )
    tag = forms.ChoiceField(label=_("标签"), required=False, choices=TAG_CHOICES)
    status = forms.ChoiceField(
        label=_("在校状态"),
        required=False,
        choices=[("", _("全部状态")), *Child.SchoolStatus.choices],
    )
    # 适龄: the children the home page counts (alive, of compulsory age on the cut-off), so
    # that each of its numbers opens the list it counts.
    age = forms.ChoiceField(
        label=_("年龄"),
        required=False,
        choices=[("", _("全部年龄")), ("compulsory", _("适龄（义务教育年龄）"))],
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        villages = Region.objects.visible_to(user).filter(level="village").order_by("name")
        cast(forms.ChoiceField, self.fields["village"]).choices = [
            ("", _("全部村")),
            *villages.values_list("id", "name"),
        ]
        schools = School.objects.visible_to(user).order_by("name")
        cast(forms.ChoiceField, self.fields["school"]).choices = [
            ("", _("全部学校")),
            *schools.values_list("id", "name"),
        ]
