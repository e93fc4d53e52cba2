from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from baoxue.audit.selectors import AuditFilters


class AuditFilterForm(forms.Form):
    person = forms.CharField(label=_("操作人"), required=False, max_length=150)
    action = forms.CharField(label=_("操作代码"), required=False, max_length=64)
    object = forms.CharField(
        label=_("对象"),
        required=False,
        max_length=64,
        help_text=_("儿童姓名或编号，或其他对象的编号"),
    )
    since = forms.DateField(label=_("开始日期"), required=False)
    until = forms.DateField(label=_("结束日期"), required=False)
    refusals = forms.BooleanField(label=_("只看被拒绝的访问和登录"), required=False)

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            person=data["person"].strip(),
            action=data["action"].strip(),
            object=data["object"].strip(),
            since=data["since"],
            until=data["until"],
            refusals_only=data["refusals"],
        )
