"""资助 (plan step 7, 应助尽助): the subsidy programmes and who received what in which term.

A `Subsidy` row says a child was on a programme's beneficiary list for one term; comparing
these rows with eligibility (脱贫户/监测户, 寄宿, 残疾) finds 补缺 and 补漏 cases.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.scope import scope_for

# Separators people use between aliases in the admin field.
_ALIAS_SPLIT = re.compile(r"[、,，;；\n]+")


def program_key(text: str) -> str:
    """How programme names compare: without spaces and brackets, case-insensitive."""
    return re.sub(r"[\s()（）【】\[\]·]", "", text).lower()


class SubsidyProgram(models.Model):
    """A subsidy programme with its default amounts (DESIGN.md §3; editable per deployment)."""

    class Unit(models.TextChoices):
        PER_YEAR = "per_year", _("每学年")
        PER_SCHOOL_DAY = "per_school_day", _("每在校日")
        ONE_OFF = "one_off", _("一次性")

    code = models.SlugField(_("代码"), max_length=32, unique=True)
    name = models.CharField(_("项目名称"), max_length=100)
    # Other names the lists use for the programme (营养餐 for the nutrition plan), so that an
    # import recognises them; separated by 、 or commas.
    aliases = models.CharField(_("别名"), max_length=255, blank=True)
    unit = models.CharField(_("计发单位"), max_length=16, choices=Unit.choices)
    amount_primary = models.DecimalField(
        _("小学标准（元）"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    amount_junior = models.DecimalField(
        _("初中标准（元）"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    # The nutrition plan is given as meals, not money.
    is_in_kind = models.BooleanField(_("实物发放"), default=False)

    class Meta:
        verbose_name = _("资助项目")
        verbose_name_plural = _("资助项目")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def alias_list(self) -> list[str]:
        return [a.strip() for a in _ALIAS_SPLIT.split(self.aliases) if a.strip()]

    def match_keys(self) -> set[str]:
        return {program_key(n) for n in (self.name, self.code, *self.alias_list()) if n}


class SubsidyQuerySet(models.QuerySet["Subsidy"]):
    def visible_to(self, user: Any) -> SubsidyQuerySet:
        return self.filter(scope_for(user).child_q(prefix="child__"))


class Subsidy(models.Model):
    """One child on one programme's list for one term."""

    child = models.ForeignKey(
        "registry.Child",
        verbose_name=_("学生"),
        on_delete=models.CASCADE,
        related_name="subsidies",
        db_index=False,  # covered by subsidy_unique_per_term, which starts with child
    )
    enrollment = models.ForeignKey(
        "registry.Enrollment",
        verbose_name=_("学籍"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subsidies",
    )
    program = models.ForeignKey(
        SubsidyProgram,
        verbose_name=_("资助项目"),
        on_delete=models.PROTECT,
        related_name="subsidies",
        db_index=False,  # covered by subsidy_program_term_idx
    )
    # Normalised by baoxue.subsidies.terms.parse_term: "2025秋", "2026春".
    term = models.CharField(_("学期"), max_length=8)
    amount = models.DecimalField(
        _("金额（元）"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    school = models.ForeignKey(
        "registry.School",
        verbose_name=_("学校"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The import batch that last wrote the row (not a foreign key: batches may be purged).
    source_batch_id = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubsidyQuerySet.as_manager()

    class Meta:
        verbose_name = _("资助记录")
        verbose_name_plural = _("资助记录")
        ordering = ["-term", "program", "child"]
        indexes = [
            models.Index(fields=["program", "term"], name="subsidy_program_term_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["child", "program", "term"], name="subsidy_unique_per_term"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} {self.program}"
