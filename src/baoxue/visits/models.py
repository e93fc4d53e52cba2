"""Home-visit campaigns (假期大家访, 家家全覆盖): a campaign names the groups it must reach; its
targets are households (a child without one is a target of its own), each assigned to a
visitor; a visit records what the visitor found, child by child, with photos."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.scope import scope_for
from baoxue.core.attachments import StoredFile


class Group(models.TextChoices):
    """The key groups a campaign must cover (the plan's step 2)."""

    LIFTED = "lifted", _("脱贫户学生")
    MONITORED = "monitored", _("监测户学生")
    SUSPENDED = "suspended", _("休学")
    ABSENT = "absent", _("不正常在校")
    LONG_LEAVE = "long_leave", _("请长假")
    LEFT_BEHIND = "left_behind", _("留守儿童")
    DISABLED = "disabled", _("残疾儿童")
    TO_VERIFY = "to_verify", _("待核实")
    OPEN_CASES = "open_cases", _("未结案件")


class CampaignQuerySet(models.QuerySet["VisitCampaign"]):
    def visible_to(self, user: object) -> CampaignQuerySet:
        """Campaigns of the townships in the user's scope (a village, a school and a teacher
        see their township's; their pages show only their own targets)."""
        scope = scope_for(user)
        q = Q(pk__in=[])
        for grant in scope.regions:
            if grant.disability_only:
                continue  # the 残联 sees its list and placements, not the visits
            if grant.level in {"province", "city", "county"}:
                q |= Q(township__path__startswith=grant.path)
            elif grant.township_id is not None:
                q |= Q(township_id=grant.township_id)
        for school in scope.schools:
            if school.township_id is not None:
                q |= Q(township_id=school.township_id)
        return self.filter(q)


class VisitCampaign(models.Model):
    class Kind(models.TextChoices):
        VISITS = "visits", _("家访")
        VERIFY = "verify", _("核查")  # the 待核实 list alone: found by a visit or a call

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    township = models.ForeignKey(
        "registry.Region", verbose_name=_("乡镇"), on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=8, choices=Kind.choices, default=Kind.VISITS)
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"))
    groups = models.JSONField(_("走访对象"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("家访活动")
        verbose_name_plural = _("家访活动")
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_dates_in_order"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def group_labels(self) -> list[str]:
        return [str(Group(g).label) for g in self.groups if g in Group.values]


class TargetQuerySet(models.QuerySet["VisitTarget"]):
    def visible_to(self, user: object) -> TargetQuerySet:
        """Targets in the user's places (a household of the user's villages, a target whose
        child goes to the user's school or class) and every target assigned to the user."""
        scope = scope_for(user)
        q = Q(pk__in=[])
        for grant in scope.regions:
            if grant.disability_only:
                continue
            if grant.level == "township":
                q |= Q(campaign__township_id=grant.region_id)
            elif grant.level == "village":
                q |= Q(village_id=grant.region_id)
            elif grant.level == "group":
                q |= Q(household__group_id=grant.region_id) | Q(child__group_id=grant.region_id)
            else:  # a county and above
                q |= Q(village__path__startswith=grant.path)
        for school in scope.schools:
            part = Q(school_id=school.school_id)
            if school.grade is not None:
                part &= Q(grade=school.grade)
            if school.class_name:
                part &= Q(class_name=school.class_name)
            q |= part
        if getattr(user, "pk", None) is not None:
            q |= Q(visitor_id=user.pk)  # type: ignore[attr-defined]
        return self.filter(q)


class VisitTarget(models.Model):
    """A household to visit in a campaign (or a child with no household). The school, grade and
    class are its first school-age child's, so that a school or a class can be assigned in bulk."""

    class Status(models.TextChoices):
        OPEN = "open", _("未走访")
        VISITED = "visited", _("已走访")
        REMOVED = "removed", _("已移出")

    campaign = models.ForeignKey(VisitCampaign, on_delete=models.CASCADE, related_name="targets")
    household = models.ForeignKey(
        "registry.Household", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    child = models.ForeignKey(
        "registry.Child", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    village = models.ForeignKey(
        "registry.Region", verbose_name=_("村"), on_delete=models.PROTECT, related_name="+"
    )
    school = models.ForeignKey(
        "registry.School", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    grade = models.PositiveSmallIntegerField(null=True, blank=True)
    class_name = models.CharField(max_length=32, blank=True)
    label = models.CharField(_("户主或儿童"), max_length=64, blank=True)
    groups = models.JSONField(_("列入原因"), default=list)
    by_hand = models.BooleanField(_("手工添加"), default=False)
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("走访人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visit_targets",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    visited_at = models.DateTimeField(null=True, blank=True)

    objects = TargetQuerySet.as_manager()

    class Meta:
        verbose_name = _("走访对象")
        verbose_name_plural = _("走访对象")
        ordering = ["village_id", "label", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "household"],
                condition=Q(household__isnull=False),
                name="target_household_once",
            ),
            models.UniqueConstraint(
                fields=["campaign", "child"],
                condition=Q(household__isnull=True),
                name="target_child_once",
            ),
            models.CheckConstraint(
                condition=Q(household__isnull=False) | Q(child__isnull=False),
                name="target_is_a_household_or_a_child",
            ),
        ]
        indexes = [models.Index(fields=["visitor", "status"], name="target_visitor_status_idx")]

    def __str__(self) -> str:
        return self.label

    @property
    def group_labels(self) -> list[str]:
        return [str(Group(g).label) for g in self.groups if g in Group.values]


class HomeVisit(models.Model):
    """One visit to a target's family: who went, whom they met, what they found for each child,
    what they explained and did, and what must follow. `client_id` is made by the phone: a
    retried upload finds the visit it already made; `version` tells an edit made elsewhere."""

    class Method(models.TextChoices):
        HOME = "home", _("入户走访")
        PHONE = "phone", _("电话核查")  # who called whom: visitors and people_met

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client_id = models.CharField(max_length=64)
    target = models.ForeignKey(VisitTarget, on_delete=models.CASCADE, related_name="visits")
    method = models.CharField(_("方式"), max_length=8, choices=Method.choices, default=Method.HOME)
    visited_on = models.DateField(_("走访日期"))
    visitors = models.CharField(_("走访人员"), max_length=200)
    people_met = models.CharField(_("接待人"), max_length=200, blank=True)
    guardianship = models.CharField(_("监护情况"), max_length=200, blank=True)
    economy = models.CharField(_("家庭经济"), max_length=200, blank=True)
    subsidies = models.JSONField(_("享受资助"), default=list, blank=True)
    explained = models.JSONField(_("宣传讲解"), default=list, blank=True)
    problems = models.TextField(_("发现的问题"), blank=True)
    help_given = models.TextField(_("帮扶措施"), blank=True)
    follow_up_by = models.DateField(_("需在此日前跟进"), null=True, blank=True)
    location = models.CharField(_("位置"), max_length=64, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("家访记录")
        verbose_name_plural = _("家访记录")
        ordering = ["-visited_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recorded_by", "client_id"], name="visit_client_id_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.visited_on}"

    @property
    def found_problem(self) -> bool:
        return bool(self.problems.strip()) or any(
            c.status not in {"", VisitChild.Status.IN_SCHOOL} for c in self.children.all()
        )


class VisitChild(models.Model):
    """What a visit found about one school-age child of the household."""

    class Status(models.TextChoices):
        IN_SCHOOL = "in_school", _("在校就读")
        AT_HOME = "at_home", _("在家")
        WORKING = "working", _("外出务工")
        MARRIED = "married", _("早婚")
        ELSEWHERE = "elsewhere", _("在外地就读")
        MOVED = "moved", _("已迁出")

    visit = models.ForeignKey(HomeVisit, on_delete=models.CASCADE, related_name="children")
    child = models.ForeignKey("registry.Child", on_delete=models.CASCADE, related_name="+")
    seen = models.BooleanField(_("见到本人"), default=False)
    status = models.CharField(_("现状"), max_length=12, choices=Status.choices, blank=True)
    where = models.CharField(_("所在地或学校"), max_length=200, blank=True)
    contact = models.CharField(_("联系方式"), max_length=64, blank=True)
    study_mood = models.CharField(_("学习和情绪"), max_length=200, blank=True)
    intended_junior = models.CharField(_("拟就读初中"), max_length=100, blank=True)
    # What the finding did to the child's case (visits.links): opened one, counted as a 劝返
    # attempt, proposed its dismissal with the visit's evidence, or why it could not.
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    link = models.CharField(max_length=12, blank=True)
    link_note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("走访儿童")
        verbose_name_plural = _("走访儿童")
        constraints = [models.UniqueConstraint(fields=["visit", "child"], name="visit_child_once")]

    def __str__(self) -> str:
        return f"{self.visit_id} {self.child_id}"


class VisitPhoto(StoredFile):
    """A photo of a visit (or the guardian's signature drawn on the screen, `is_signature`)."""

    visit = models.ForeignKey(HomeVisit, on_delete=models.CASCADE, related_name="photos")
    is_signature = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("家访照片")
        verbose_name_plural = _("家访照片")
        ordering = ["uploaded_at", "id"]

    def folder(self) -> str:
        return f"visits/{self.visit.public_id}"
