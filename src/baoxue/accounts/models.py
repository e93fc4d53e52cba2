from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """DESIGN.md §4. A role is bound to a region subtree or to a school."""

    TOWNSHIP_OFFICE = "township_office", _("乡镇控辍保学办公室")
    LEADER = "leader", _("领导小组")
    VILLAGE = "village", _("村委/第一书记")
    SCHOOL = "school", _("学校（校长/教务）")
    TEACHER = "teacher", _("教师")
    DISABILITY_FEDERATION = "disability_federation", _("残联")
    COUNTY_INSPECTOR = "county_inspector", _("县级/督查")
    ADMIN = "admin", _("系统管理员")


REGION_ROLES = frozenset(
    {
        Role.TOWNSHIP_OFFICE,
        Role.LEADER,
        Role.VILLAGE,
        Role.DISABILITY_FEDERATION,
        Role.COUNTY_INSPECTOR,
    }
)
SCHOOL_ROLES = frozenset({Role.SCHOOL, Role.TEACHER})


class User(AbstractUser):
    display_name = models.CharField(_("姓名"), max_length=64, blank=True)
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    unit = models.CharField(_("单位"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username


class RoleAssignment(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices)
    region = models.ForeignKey(
        "registry.Region",
        verbose_name=_("区域"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    school = models.ForeignKey(
        "registry.School",
        verbose_name=_("学校"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # A teacher may be limited to one class (班主任); blank means the whole school.
    grade = models.PositiveSmallIntegerField(_("年级"), null=True, blank=True)
    class_name = models.CharField(_("班级"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        constraints = [
            # Region roles carry a region, school roles a school, admin neither: enforced by
            # the database so that a hand-made row cannot widen anyone's scope.
            models.CheckConstraint(
                name="role_scope_matches_role",
                condition=(
                    Q(
                        role__in=sorted(r.value for r in REGION_ROLES),
                        region__isnull=False,
                        school__isnull=True,
                    )
                    | Q(
                        role__in=sorted(r.value for r in SCHOOL_ROLES),
                        school__isnull=False,
                        region__isnull=True,
                    )
                    | Q(role=Role.ADMIN, school__isnull=True, region__isnull=True)
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "region", "school", "grade", "class_name"],
                name="role_assignment_unique",
            ),
        ]

    def __str__(self) -> str:
        where = self.region or self.school or ""
        return f"{self.get_role_display()} {where}".strip()
