"""Reconciliation runs (比对), their per-child results, and the review queue of uncertain links."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.scope import scope_for
from baoxue.core.jobs import Job
from baoxue.core.times import local_date, minute_text
from baoxue.reconcile import engine


class RunQuerySet(models.QuerySet["ReconciliationRun"]):
    def visible_to(self, user: object) -> RunQuerySet:
        """Runs of areas inside the user's scope, and of the areas around it (a village or
        a school sees the township's runs; their pages show only its own children)."""

        scope = scope_for(user)
        q = models.Q(pk__in=[])
        for grant in scope.regions:
            if grant.disability_only:
                continue
            ids = [int(p) for p in grant.path.strip("/").split("/") if p]
            q |= models.Q(area__path__startswith=grant.path) | models.Q(area_id__in=ids)
        for school in scope.schools:
            if school.township_id is not None:
                q |= models.Q(area_id=school.township_id)
        return self.filter(q)


CATEGORY_LABELS = {
    engine.IN_SCHOOL: _("在本地就读"),
    engine.ON_LEAVE: _("请假"),
    engine.SUSPENDED: _("休学"),
    engine.ELSEWHERE: _("在外地就读"),
    engine.TO_VERIFY: _("待核实"),
    engine.NEVER_ENROLLED: _("失学"),
    engine.SUSPECTED: _("疑似辍学"),
    engine.NOT_OF_AGE: _("非义务教育年龄"),
    engine.COMPLETED: _("已完成义务教育"),
    engine.GONE: _("死亡或迁出"),
    engine.EXEMPT: _("延缓或免予入学"),
    engine.LIST_MISSING: _("名单未更新"),
}
CATEGORY_CHOICES = [(c, CATEGORY_LABELS[c]) for c in engine.CATEGORIES]
METHOD_LABELS = {
    engine.SAME: _("同一记录"),
    engine.DECIDED: _("人工确认"),
    engine.ID: _("身份证号一致"),
    engine.ID_REPAIR: _("身份证号纠错"),
    engine.NAME: _("姓名与出生日期"),
    engine.ID_TYPO: _("身份证号一位之差，姓名、性别、出生日期一致"),
    engine.ID_CLAIM: _("同一身份证号，姓名对不上（可能录错或冒用）"),
}


class ReconciliationRun(Job):
    """One 比对 of an area (a core.jobs.Job): queued, running with a progress bar, done with its
    counts, or failed with the reason; a run whose worker is gone is failed, and the next run
    of the area is not blocked by it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("比对中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    WAITING = frozenset({Status.QUEUED.value})
    RUNNING = frozenset({Status.RUNNING.value})
    FAILED = Status.FAILED.value
    INTERRUPTED = _("比对中断：处理它的后台程序停止了（例如服务器重启），没有完成。请重新比对。")

    area = models.ForeignKey(
        "registry.Region", verbose_name=_("比对范围"), on_delete=models.PROTECT, related_name="+"
    )
    # The day the run is about (比对日期): the school year, its cut-off and the term come from
    # it, and the enrollments and attendance are taken as they stood then. Empty: the day
    # it ran.
    as_of = models.DateField(_("比对日期"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发起人"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("发起时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    settings = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=dict, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        verbose_name = _("比对")
        verbose_name_plural = _("比对")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.area} {minute_text(self.created_at)}"

    @property
    def day(self) -> date:
        """The day the run is about: its 比对日期, else the local day it was made."""
        return self.as_of or local_date(self.created_at)


class RunChildQuerySet(models.QuerySet["RunChild"]):
    def visible_to(self, user: object) -> RunChildQuerySet:

        return self.filter(scope_for(user).child_q(prefix="child__"))


class RunChild(models.Model):
    """One child's result in one run: its category, why, and how its records were linked."""

    # A run writes a row per child of its area (a county's million in one transaction): each
    # index is a B-tree more per row, so only the ones the pages use. The run's own column is
    # covered by runchild_once_per_run; village and school by the indexes that start with the
    # run (a region or school deleted or merged is rare enough to scan the table).
    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    child = models.ForeignKey("registry.Child", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(_("类别"), max_length=16, choices=CATEGORY_CHOICES)
    basis = models.CharField(_("依据"), max_length=200, blank=True)
    key_group = models.BooleanField(_("重点群体"), default=False)
    village = models.ForeignKey(
        "registry.Region",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    school = models.ForeignKey(
        "registry.School",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The 学籍-side child linked to this one when they are two records (method ≠ same).
    linked_child = models.ForeignKey(
        "registry.Child",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    link_method = models.CharField(max_length=16, blank=True)
    link_score = models.FloatField(null=True, blank=True)

    objects = RunChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("比对结果")
        verbose_name_plural = _("比对结果")
        constraints = [
            models.UniqueConstraint(fields=["run", "child"], name="runchild_once_per_run")
        ]
        indexes = [
            models.Index(fields=["run", "category"], name="runchild_category_idx"),
            models.Index(fields=["run", "village"], name="runchild_village_idx"),
            models.Index(fields=["run", "school"], name="runchild_school_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id}: {self.category}"


class MatchReviewQuerySet(models.QuerySet["MatchReview"]):
    def visible_to(self, user: object) -> MatchReviewQuerySet:

        return self.filter(scope_for(user).child_q(prefix="left__"))


class MatchReview(models.Model):
    """A link the engine was not sure of (待人工确认), and the decision once made: decisions
    are remembered and used by every later run."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待确认")
        CONFIRMED = "confirmed", _("是同一人")
        REJECTED = "rejected", _("不是同一人")

    left = models.ForeignKey(
        "registry.Child", verbose_name=_("户籍记录"), on_delete=models.CASCADE, related_name="+"
    )
    right = models.ForeignKey(
        "registry.Child", verbose_name=_("学籍记录"), on_delete=models.CASCADE, related_name="+"
    )
    method = models.CharField(max_length=16)
    score = models.FloatField()
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    first_run = models.ForeignKey(
        ReconciliationRun, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MatchReviewQuerySet.as_manager()

    class Meta:
        verbose_name = _("匹配复核")
        verbose_name_plural = _("匹配复核")
        constraints = [
            models.UniqueConstraint(fields=["left", "right"], name="matchreview_pair_once")
        ]
        indexes = [models.Index(fields=["status"], name="matchreview_status_idx")]

    def __str__(self) -> str:
        return f"{self.left_id} ~ {self.right_id} ({self.method}, {self.score:.2f})"
