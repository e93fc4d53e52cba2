from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import missing_required, unrecognised_headers

ALLOWED_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods", ".csv", ".txt")


class UploadForm(forms.Form):
    source = forms.ChoiceField(label=_("数据类型"))
    file = forms.FileField(label=_("文件"))
    # A client-made token: a double click or a retried upload creates one batch, not two.
    token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(
        self,
        *args: Any,
        sources: list[str],
        targets: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _("xlsx、xls、ods 或 csv，最大 %(mb)s MB") % {
            "mb": settings.BAOXUE_IMPORT_MAX_UPLOAD_MB
        }
        field = self.fields["source"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(code, SOURCES[code].label) for code in sources]
        if targets and len(targets) > 1:
            # A user of two schools, or of two townships: which one the file is for.
            # Not required: a kind of list the user imports into one place only goes there.
            self.fields["target"] = forms.ChoiceField(
                label=_("导入到"), choices=[("", "——"), *targets], required=False
            )
            self.order_fields(["source", "target", "file"])

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(ALLOWED_SUFFIXES):
            raise forms.ValidationError(_("只能导入 xlsx、xls、ods 或 csv 文件。"))
        return upload


class MappingForm(forms.Form):
    """One select per column of the file: which field it holds, or "不导入"."""

    def __init__(
        self,
        *args: Any,
        headers: list[str],
        source: str,
        mapping: dict[str, str],
        school: Any = None,
        samples: list[list[str]] | None = None,
        options: dict[str, Any] | None = None,
        schools: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        """`options`: what the user chose before (a refused mapping, back from the preview)."""
        super().__init__(*args, **kwargs)
        fields = SOURCES[source].fields
        samples = samples or []
        choices = [("", _("（不导入）"))] + [
            (f.name, f"{f.label}{' *' if f.required else ''}") for f in fields
        ]
        if source == "enrollment":
            self.fields["complete_list"] = forms.BooleanField(
                label=_(
                    "这是本校（%(s)s）本学期完整的学籍名册（名册中没有的本校在籍学生将标记出来）"
                )
                % {"s": school}
                if school is not None
                else _("这是这些学校本学期完整的学籍名册（名册中没有的在籍学生将标记出来）"),
                required=False,
                initial=bool((options or {}).get("complete_list", True)),
            )
        # Said above the columns, before anything is tried: the required fields no column
        # was recognised as, and the file's columns that were not recognised (one of them is
        # probably it, under a name we do not know).
        self.missing = [f.label for f in missing_required(fields, mapping)]
        self.unrecognised = unrecognised_headers(headers, mapping) if self.missing else []
        if source == "enrollment" and school is None and schools:
            # One school's own export, with no school column: whose students they are.
            self.fields["default_school"] = forms.ChoiceField(
                label=_("文件中没有学校列的行，学生属于"),
                choices=[("", _("（文件里有学校列）")), *schools],
                required=False,
                initial=str((options or {}).get("default_school") or ""),
            )
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or _("第 %(n)s 列") % {"n": index + 1},
                choices=choices,
                required=False,
                initial=mapping.get(str(index), ""),
                # What the column holds, for a header that says little ("列1", "备注").
                help_text="、".join(
                    dict.fromkeys(row[index] for row in samples if index < len(row) and row[index])
                ),
            )

    def mapping(self) -> dict[str, str]:
        return {
            name.removeprefix("col_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("col_") and value
        }

    def options(self) -> dict[str, object]:
        found: dict[str, object] = {}
        if "complete_list" in self.fields:
            found["complete_list"] = bool(self.cleaned_data.get("complete_list"))
        if self.cleaned_data.get("default_school"):
            found["default_school"] = int(self.cleaned_data["default_school"])
        return found
