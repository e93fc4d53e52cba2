"""一人一案: one case per child out of school (or not known to be in school).

This issue's part (reconciliation) opens cases with their source and evidence; the workflow
(双线四包, 劝返, escalation, placement, follow-up, closing) builds on this model.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.actors import signed_in
from baoxue.accounts.scope import scope_for
from baoxue.core.attachments import StoredFile, upload_to
from baoxue.core.idnumbers import mask_numbers
from baoxue.core.jobs import Job
from baoxue.core.times import minute_text
from baoxue.registry.models import Region

# A user named on more cases than this is filtered by a subquery instead of an id list.
NAMED_LIMIT = 2000
# What a case's 比对 category (Case.category) is called: the reconciliation, which names the
# categories, declares their labels here when the apps start (reconcile/apps.py).
CATEGORY_LABELS: dict[str, Any] = {}


# Why a case left the list without a return, and why a child left school (the case form's
# choices, the ledger's and the 一人一案 file's words).
DISMISS_REASONS = {
    "enrolled_elsewhere": _("在外地就读（有证明）"),
    "moved_away": _("已迁出"),
    "deceased": _("已死亡"),
    "data_error": _("数据错误"),
    "over_age": _("超出义务教育年龄"),
}
DROPOUT_REASONS = {
    "learning": _("学习困难"),
    "work": _("外出务工"),
    "marriage": _("早婚"),
    "illness": _("疾病"),
    "disability": _("残疾"),
    "family": _("家庭原因"),
    "distance": _("上学路远"),
    "other": _("其他"),
}


class CaseQuerySet(models.QuerySet["Case"]):
    def visible_to(self, user: Any, *, moved_away: bool = False) -> CaseQuerySet:
        """Cases in the user's regions or schools (by the case's own place columns, so a
        township's list does not join its children), every case naming the user now, and
        every case the user reported: what lists count and what may be worked. With
        `moved_away`, also the cases whose child lately moved away from the user's village or
        school, which that place may still open and read (Case.previous_village)."""
        from django.conf import settings

        scope = scope_for(user)
        grace = (
            timezone.now() - timedelta(days=settings.BAOXUE_CASE_MOVE_GRACE_DAYS)
            if moved_away
            else None
        )
        q = Q(pk__in=[])
        for grant in scope.regions:
            if grant.level == "township":
                part = Q(township_id=grant.region_id)
            elif grant.level == "village":
                part = Q(village_id=grant.region_id)
                if grace is not None:
                    part |= Q(previous_village_id=grant.region_id, moved_at__gte=grace)
            elif grant.level == "group":
                part = Q(child__group_id=grant.region_id)
            else:
                # A county (or city, province): its townships, a short list, so the case
                # table is filtered on its own indexed column without joining the regions.

                townships = Region.objects.filter(level="township", path__startswith=grant.path)
                part = Q(township_id__in=list(townships.values_list("pk", flat=True)))
            if grant.disability_only:
                part &= Q(child__has_disability=True)
            q |= part
        for school in scope.schools:
            if school.grade is None and not school.class_name:
                q |= Q(school_id=school.school_id)
                if grace is not None:
                    q |= Q(previous_school_id=school.school_id, moved_at__gte=grace)
            else:
                # A class teacher: the cases of the class's children as they are now.
                part = Q(child__current_school_id=school.school_id)
                if school.grade is not None:
                    part &= Q(child__current_grade=school.grade)
                if school.class_name:
                    part &= Q(child__current_class=school.class_name)
                q |= part
        if signed_in(user):
            # The cases naming the user, as a list of ids: an OR with a correlated EXISTS
            # would keep the database from using the place indexes above (a scan per page).
            named = Responsibility.objects.filter(user=user, ended_at=None).values("case_id")
            ids = list(named.values_list("case_id", flat=True)[: NAMED_LIMIT + 1])
            if len(ids) > NAMED_LIMIT:
                q |= Q(pk__in=named)
            elif ids:
                q |= Q(pk__in=ids)
            # The cases the user reported (立案): an indexed column of the case itself.
            q |= Q(reported_by=user)
        return self.filter(q)

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
        # A dismissal or a closing proposed and waiting for its reviewer (the township office
        # for a dismissal, an approver who did not work the case for a closing).
        PENDING_REVIEW = "pending_review", _("待审核")
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
    # Every required level (settings.BAOXUE_CASE_REQUIRED_LEVELS) of both lines has a named
    # person now (双线四包 落实): kept by workflow.assign, so "未落实包保" is an indexed filter
    # rather than correlated subqueries per case.
    both_lines_named = models.BooleanField(_("双线已落实"), default=False)
    # Where the case is worked: copied from the child (and its last school) when the case is
    # opened, so scope filters, lists and the dashboard group without joining a million children.
    township = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    village = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    school = models.ForeignKey(
        "registry.School",
        verbose_name=_("学校"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Where the case was before its child moved (a roster to another village, a 学籍 to another
    # school): that place keeps reading the case (not working it) until someone of the new
    # place is named on it, or for BAOXUE_CASE_MOVE_GRACE_DAYS after `moved_at`.
    previous_village = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_school = models.ForeignKey(
        "registry.School", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moved_at = models.DateTimeField(null=True, blank=True)
    # Confirmed: when it began and why (several reasons allowed); dismissed: why.
    began_on = models.DateField(_("辍学开始月份"), null=True, blank=True)
    reasons = models.JSONField(_("原因"), default=list, blank=True)
    dismiss_reason = models.CharField(_("排除原因"), max_length=32, blank=True)
    # The plan: measures (codes of MEASURES) and a note.
    measures = models.JSONField(_("帮扶措施"), default=list, blank=True)
    plan_note = models.TextField(_("方案说明"), blank=True)
    # Leaving the list (排除 or 销号): the structured evidence the service checked (which kind
    # of proof, the receiving school, the 户籍 record, the correction, …; attachment ids).
    exit_evidence = models.JSONField(_("排除或销号证据"), default=dict, blank=True)
    # While 待审核: what is proposed, from which state, by whom and when.
    proposed_to = models.CharField(max_length=16, blank=True)
    proposed_from = models.CharField(max_length=16, blank=True)
    proposed_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    # Whoever reported the child (立案 by hand): not a 双线四包 level, but sees the case.
    reported_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("报告人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # 销号: who approved it and on what evidence.
    close_approver = models.CharField(_("销号批准人"), max_length=64, blank=True)
    close_evidence = models.CharField(_("销号依据"), max_length=300, blank=True)
    closed_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The earliest date a step is due (next 劝返 step, a follow-up, a notice's deadline, an
    # exemption's review). Kept by the services, so "overdue" is one indexed comparison.
    next_due = models.DateField(_("下一步期限"), null=True, blank=True)
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
        indexes = [
            models.Index(fields=["status", "kind"], name="case_status_kind_idx"),
            models.Index(fields=["township", "status"], name="case_township_status_idx"),
            models.Index(fields=["village", "status"], name="case_village_status_idx"),
            models.Index(fields=["school", "status"], name="case_school_status_idx"),
            models.Index(fields=["next_due"], name="case_next_due_idx"),
            models.Index(fields=["closed_at"], name="case_closed_at_idx"),
            models.Index(fields=["opened_at"], name="case_opened_at_idx"),
            models.Index(fields=["reported_by", "status"], name="case_reported_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.child_id} {self.get_kind_display()} {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status not in self.FINISHED

    @property
    def moved_from(self) -> str:
        """The village (or school) the child lately moved away from, by name."""
        place = self.previous_village or self.previous_school
        return place.name if place is not None else ""

    def grace_ends(self) -> date | None:
        """The last day the place the child moved away from may still read the case."""
        from django.conf import settings

        if self.moved_at is None or not (self.previous_village_id or self.previous_school_id):
            return None
        days = settings.BAOXUE_CASE_MOVE_GRACE_DAYS
        return timezone.localdate(self.moved_at + timedelta(days=days))

    def is_overdue(self, today: date | None = None) -> bool:
        return (
            self.is_open
            and self.next_due is not None
            and self.next_due < (today or timezone.localdate())
        )


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
        verbose_name = _("案件记录")
        verbose_name_plural = _("案件记录")
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
        indexes = [
            # 我的案件: the cases a user is named on now.
            models.Index(fields=["user", "ended_at"], name="responsibility_user_idx")
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


class ReturnAttempt(models.Model):
    """劝返: one attempt to persuade a family to send the child back."""

    class Method(models.TextChoices):
        HOME_VISIT = "home_visit", _("入户家访")
        PHONE = "phone", _("电话")
        WORKPLACE = "workplace", _("到务工地劝返")
        AT_SCHOOL = "at_school", _("约谈到校")
        OTHER = "other", _("其他")

    class Result(models.TextChoices):
        AGREED = "agreed", _("同意返校")
        CONSIDERING = "considering", _("考虑中")
        REFUSED = "refused", _("拒绝")
        NOT_REACHED = "not_reached", _("未见到人/未接通")
        RETURNED = "returned", _("已返校")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attempts")
    attempted_on = models.DateField(_("劝返日期"))
    method = models.CharField(_("方式"), max_length=16, choices=Method.choices)
    people = models.CharField(_("参与人员及电话"), max_length=300)
    met = models.CharField(_("见到的人"), max_length=100, blank=True)
    said = models.TextField(_("沟通内容"), blank=True)
    offered = models.TextField(_("提供的帮扶"), blank=True)
    result = models.CharField(_("结果"), max_length=16, choices=Result.choices)
    next_step = models.CharField(_("下一步"), max_length=200, blank=True)
    next_date = models.DateField(_("下一步日期"), null=True, blank=True)
    # The form's one-time token: a double submit or a retried upload writes one row.
    token = models.UUIDField(unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("劝返记录")
        verbose_name_plural = _("劝返记录")
        ordering = ["-attempted_on", "-id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.attempted_on} {self.get_method_display()}"


class EscalationDocument(models.Model):
    """The legal steps, in order: the school's written report, the notice to return by a
    deadline (or the order to the guardian), the administrative penalty, the demand, court."""

    class Kind(models.TextChoices):
        SCHOOL_REPORT = "school_report", _("学校书面报告")
        RETURN_NOTICE = "return_notice", _("限期复学通知书")
        ORDER_NOTICE = "order_notice", _("责令送被监护人接受义务教育通知书")
        PENALTY = "penalty", _("行政处罚决定书")
        DEMAND = "demand", _("催告书")
        COURT_FILING = "court_filing", _("向法院起诉/申请执行")
        COURT_OUTCOME = "court_outcome", _("法院裁判结果")

    ORDER = [k.value for k in Kind]

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(_("文书类型"), max_length=16, choices=Kind.choices)
    number = models.CharField(_("文号"), max_length=64, blank=True)
    issuer = models.CharField(_("发文单位"), max_length=100)
    issued_on = models.DateField(_("发文日期"))
    deadline = models.DateField(_("期限"), null=True, blank=True)
    served_on = models.DateField(_("送达日期"), null=True, blank=True)
    outcome = models.CharField(_("结果"), max_length=300, blank=True)
    token = models.UUIDField(unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("法律文书")
        verbose_name_plural = _("法律文书")
        ordering = ["issued_on", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_kind_display()} {self.number}"


class FollowUp(models.Model):
    """关爱跟踪: a scheduled check on a returned student, and what it found."""

    class Attendance(models.TextChoices):
        NORMAL = "normal", _("正常出勤")
        SOME_ABSENCE = "some_absence", _("有缺勤")
        NOT_ATTENDING = "not_attending", _("未到校")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="follow_ups")
    due_on = models.DateField(_("应跟踪日期"))
    done_on = models.DateField(_("跟踪日期"), null=True, blank=True)
    attendance = models.CharField(_("出勤"), max_length=16, choices=Attendance.choices, blank=True)
    absent_days = models.PositiveSmallIntegerField(_("缺勤天数"), null=True, blank=True)
    note = models.TextField(_("情况"), blank=True)
    recorded_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("跟踪记录")
        verbose_name_plural = _("跟踪记录")
        ordering = ["due_on", "id"]
        indexes = [models.Index(fields=["case", "due_on"], name="followup_case_due_idx")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.due_on}"


def attachment_path(instance: Attachment, filename: str) -> str:
    """Named by migration 0005; the files' names are core.attachments.upload_to's."""
    return upload_to(instance, filename)


class Attachment(StoredFile):
    """A photo or scan for a case, a 劝返 attempt or a legal document (a core.attachments
    StoredFile), kept through Django's storage API (the data directory by default, encrypted;
    S3-compatible storage by configuration)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    attempt = models.ForeignKey(
        ReturnAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    document = models.ForeignKey(
        EscalationDocument,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    # "proof": evidence for leaving the list (a 就读证明, a 户籍 certificate), named in
    # Case.exit_evidence; blank for an ordinary photo.
    purpose = models.CharField(max_length=16, blank=True)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["uploaded_at", "id"]

    def folder(self) -> str:
        return f"cases/{self.case.public_id}"


class LedgerExport(Job):
    """A 辍学台账 export made in the background (a core.jobs.Job): the user's filters at the
    time, its progress and the finished file in storage. A queued export waits for its worker
    however long; a running one whose beat stops is failed and made again by the user."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导出中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    RUNNING = frozenset({Status.RUNNING.value})
    FAILED = Status.FAILED.value
    INTERRUPTED = _("导出中断：处理它的后台程序停止了（例如服务器重启）。请重新导出。")

    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="ledger_exports"
    )
    query = models.CharField(_("筛选条件"), max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/", max_length=200, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("台账导出")
        verbose_name_plural = _("台账导出")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.requested_by_id} {minute_text(self.created_at)} {self.status}"


# --- free text typed by people: a child's ID number typed into it is kept masked --------------
# (core.idnumbers.mask_numbers, however it was typed): a note is not where a number belongs, and
# a database copied without the key must not give one away (docs/privacy.md). The exit
# evidence (a receiving school's 学籍号) is structured evidence, kept as given.
FREE_TEXT: dict[type[models.Model], tuple[str, ...]] = {
    ReturnAttempt: ("people", "said", "offered", "next_step"),
    EscalationDocument: ("outcome",),
    FollowUp: ("note",),
    Placement: ("application", "conclusion"),
}


def _mask_free_text(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    for name in FREE_TEXT.get(sender, ()):
        value = getattr(instance, name)
        if value:
            setattr(instance, name, mask_numbers(value))
    if isinstance(instance, CaseEvent) and isinstance(instance.data, dict):
        note = instance.data.get("note")
        if isinstance(note, str) and note:
            instance.data = {**instance.data, "note": mask_numbers(note)}


_MASKED: list[type[models.Model]] = [*FREE_TEXT, CaseEvent]
for _model in _MASKED:
    pre_save.connect(_mask_free_text, sender=_model, dispatch_uid=f"mask-{_model.__name__}")
