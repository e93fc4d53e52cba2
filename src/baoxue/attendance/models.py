"""考勤: a school's absence and leave counts per student and period (DESIGN.md §3, the dropout
signal). The records come from the schools' monthly or term statistics; a long run of
absence without leave is the earliest sign that a student may be dropping out.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.scope import scope_for


class AttendanceRecordQuerySet(models.QuerySet["AttendanceRecord"]):
    def visible_to(self, user: Any) -> AttendanceRecordQuerySet:
        return self.filter(scope_for(user).child_q(prefix="child__"))

    def absent_at_least(self, days: int) -> AttendanceRecordQuerySet:
        """Records at or past the alert threshold of consecutive days absent without leave
        (a deployment setting: provinces differ)."""
        return self.filter(longest_absence_days__gte=days)


class AttendanceRecord(models.Model):
    """One student's attendance over one period (a month, usually) at one school."""

    enrollment = models.ForeignKey(
        "registry.Enrollment",
        verbose_name=_("学籍"),
        on_delete=models.CASCADE,
        related_name="attendance_records",
        db_index=False,  # covered by attendance_unique_period, which starts with enrollment
    )
    child = models.ForeignKey(
        "registry.Child",
        verbose_name=_("学生"),
        on_delete=models.CASCADE,
        related_name="attendance_records",
    )
    school = models.ForeignKey(
        "registry.School",
        verbose_name=_("学校"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # covered by attendance_school_period_idx
    )
    period_start = models.DateField(_("统计开始日期"))
    period_end = models.DateField(_("统计结束日期"))
    # Days, with half days (a morning's leave is 0.5).
    school_days = models.DecimalField(
        _("应到天数"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    days_absent = models.DecimalField(_("缺勤天数"), max_digits=4, decimal_places=1, default=0)
    days_leave = models.DecimalField(_("请假天数"), max_digits=4, decimal_places=1, default=0)
    leave_reason = models.CharField(_("请假原因"), max_length=200, blank=True)
    # The longest run of consecutive school days absent without leave (连续缺勤天数); it may
    # have started before the period, so it is not bounded by days_absent.
    longest_absence_days = models.DecimalField(
        _("连续缺勤天数"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    notes = models.TextField(_("备注"), blank=True)
    # The import batch that last wrote the row (not a foreign key: batches may be purged).
    source_batch_id = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AttendanceRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("考勤记录")
        verbose_name_plural = _("考勤记录")
        ordering = ["-period_start", "child"]
        indexes = [
            models.Index(fields=["school", "period_start"], name="attendance_school_period_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "period_start", "period_end"],
                name="attendance_unique_period",
            ),
            models.CheckConstraint(
                condition=Q(period_start__lte=F("period_end")), name="attendance_period_valid"
            ),
            models.CheckConstraint(
                condition=Q(school_days__isnull=True)
                | Q(school_days__gte=F("days_absent") + F("days_leave")),
                name="attendance_days_within_school_days",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.child} {self.period_start}–{self.period_end}"
