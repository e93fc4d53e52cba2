"""一人一案: one case per child out of school (or not known to be in school).

This issue's part (reconciliation) opens cases with their source and evidence; the workflow
(双线四包, 劝返, escalation, placement, follow-up, closing) builds on this model.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CaseQuerySet(models.QuerySet["Case"]):
    def visible_to(self, user: object) -> CaseQuerySet:
        from baoxue.accounts.scope import scope_for

        return self.filter(scope_for(user).child_q(prefix="child__"))

    def open(self) -> CaseQuerySet:
        return self.exclude(status__in=Case.FINISHED)


class Case(models.Model):
    class Kind(models.TextChoices):
        TO_VERIFY = "to_verify", _("待核实")
        NEVER_ENROLLED = "never_enrolled", _("失学（从未入学）")
        DROPPED_OUT = "dropped_out", _("辍学")

    class Status(models.TextChoices):
        SUSPECTED = "suspected", _("疑似")
        VERIFYING = "verifying", _("核实中")
        DISMISSED = "dismissed", _("已排除")
        CONFIRMED = "confirmed", _("已确认")
        PERSUADING = "persuading", _("劝返中")
        PLACED = "placed", _("已安置")
        FOLLOW_UP = "follow_up", _("跟踪中")
        CLOSED = "closed", _("已销号")

    FINISHED = (Status.DISMISSED, Status.CLOSED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    child = models.ForeignKey(
        "registry.Child", verbose_name=_("儿童"), on_delete=models.PROTECT, related_name="cases"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.SUSPECTED
    )
    # Where the case came from: a reconciliation run (its category and basis), or a person.
    source = models.CharField(_("来源"), max_length=16, default="reconcile")
    source_run = models.ForeignKey(
        "reconcile.ReconciliationRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opened_cases",
    )
    category = models.CharField(_("比对类别"), max_length=16, blank=True)
    basis = models.CharField(_("依据"), max_length=200, blank=True)
    # What the case rests on (the reconciliation's facts): a rerun compares it to decide
    # whether a closed case has new evidence.
    evidence = models.JSONField(default=dict, blank=True)
    evidence_key = models.CharField(max_length=64, blank=True, editable=False)
    key_group = models.BooleanField(_("重点群体"), default=False)
    opened_at = models.DateTimeField(_("立案时间"), auto_now_add=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        ordering = ["-opened_at", "-id"]
        constraints = [
            # 一人一案: at most one case per child that is not finished.
            models.UniqueConstraint(
                fields=["child"],
                condition=~Q(status__in=["dismissed", "closed"]),
                name="case_one_open_per_child",
            )
        ]
        indexes = [models.Index(fields=["status", "kind"], name="case_status_kind_idx")]

    def __str__(self) -> str:
        return f"{self.child_id} {self.get_kind_display()} {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status not in self.FINISHED


class CaseEvent(models.Model):
    """The case's history: every transition and change, with who, when and before/after."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)  # "transition", "responsibility", …
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="caseevent_case_at_idx")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.from_status}→{self.to_status}"


class Responsibility(models.Model):
    """双线四包: a named person on the government or the education line, at a level."""

    class Line(models.TextChoices):
        GOVERNMENT = "government", _("政府线")
        EDUCATION = "education", _("教育线")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="responsibilities")
    line = models.CharField(_("线"), max_length=16, choices=Line.choices)
    level = models.PositiveSmallIntegerField(_("层级"))  # 1–4, named by settings
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(_("姓名"), max_length=64)
    role = models.CharField(_("职务"), max_length=64, blank=True)
    unit = models.CharField(_("单位"), max_length=100, blank=True)
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    assigned_at = models.DateTimeField(auto_now_add=True)
    # Reassigning ends the old row instead of changing it: the history stays.
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("包保责任人")
        verbose_name_plural = _("包保责任人")
        ordering = ["line", "level", "assigned_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__gte=1) & Q(level__lte=4), name="responsibility_level_1_4"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_line_display()} {self.level} {self.name}"


class Placement(models.Model):
    """How a case is resolved: back in school, 随班就读, a special school, 送教上门, or an
    exemption (延缓/免予入学) with the guardian's application, a conclusion and an approver."""

    class Kind(models.TextChoices):
        BACK_IN_SCHOOL = "back_in_school", _("复学")
        WITH_CLASS = "with_class", _("随班就读")
        SPECIAL_SCHOOL = "special_school", _("特殊教育学校")
        HOME_TEACHING = "home_teaching", _("送教上门")
        EXEMPT = "exempt", _("延缓或免予入学")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="placements")
    kind = models.CharField(_("安置方式"), max_length=16, choices=Kind.choices)
    school = models.ForeignKey(
        "registry.School", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    grade = models.PositiveSmallIntegerField(_("年级"), null=True, blank=True)
    placed_on = models.DateField(_("安置日期"))
    application = models.CharField(_("监护人申请"), max_length=200, blank=True)
    conclusion = models.CharField(_("专家或医学结论"), max_length=200, blank=True)
    approver = models.CharField(_("批准人"), max_length=64, blank=True)
    review_date = models.DateField(_("复核日期"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("安置")
        verbose_name_plural = _("安置")
        ordering = ["-placed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_kind_display()}"
