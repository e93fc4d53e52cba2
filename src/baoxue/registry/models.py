"""The registry: places, schools, households, children and their enrollments (DESIGN.md §2–3).

Identifying numbers are never stored in clear: each has an encrypted column (`*_enc`), a keyed
hash for exact lookups (`*_hash`) and, where lists need it, the masked form that lists show.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from baoxue.core import crypto
from baoxue.core.fields import SearchKeyField
from baoxue.core.times import minute_text
from baoxue.registry.managers import (
    ChildManager,
    ChildQuerySet,
    DiscrepancyQuerySet,
    EnrollmentQuerySet,
    GuardianQuerySet,
    HouseholdQuerySet,
    RegionQuerySet,
    SchoolQuerySet,
)


class Region(models.Model):
    """A node of the administrative tree: county → township → village → group (组/屯)."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("省")
        CITY = "city", _("市")
        COUNTY = "county", _("县")
        TOWNSHIP = "township", _("乡镇")
        VILLAGE = "village", _("村")
        GROUP = "group", _("组/屯")

    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    level = models.CharField(_("层级"), max_length=16, choices=Level.choices)
    name = models.CharField(_("名称"), max_length=64)
    # 12-digit statistical code (统计用区划代码) where known; blank for 屯 that have none.
    code = models.CharField(_("区划代码"), max_length=12, blank=True)
    # Materialised path of ids ("/1/4/17/") so that a subtree is one indexed prefix query.
    path = models.CharField(_("路径"), max_length=255, editable=False, db_index=True, default="")

    objects = RegionQuerySet.as_manager()

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~Q(code=""), name="region_code_unique"
            ),
            models.UniqueConstraint(fields=["parent", "name"], name="region_name_unique_in_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    LEVEL_ORDER = ["province", "city", "county", "township", "village", "group"]

    @property
    def depth(self) -> int:
        return self.LEVEL_ORDER.index(self.level)

    def is_within(self, other: Region) -> bool:
        return self.path.startswith(other.path)

    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]


class School(models.Model):
    class Kind(models.TextChoices):
        PRIMARY = "primary", _("小学")
        JUNIOR = "junior", _("初级中学")
        NINE_YEAR = "nine_year", _("九年一贯制学校")
        TEACHING_POINT = "teaching_point", _("教学点")
        SPECIAL = "special", _("特殊教育学校")
        OTHER = "other", _("其他")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("学校名称"), max_length=100)
    kind = models.CharField(_("类别"), max_length=20, choices=Kind.choices)
    # 学校标识码: 10 digits, unique nationally; schools outside the area may have none.
    code = models.CharField(_("学校标识码"), max_length=10, blank=True)
    region = models.ForeignKey(
        Region, verbose_name=_("所在地"), on_delete=models.PROTECT, related_name="schools"
    )
    # Denormalised from region so that scope filters are one indexed equality.
    township = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    county = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    is_boarding = models.BooleanField(_("寄宿制"), default=False)
    lowest_grade = models.PositiveSmallIntegerField(_("最低年级"), default=1)
    highest_grade = models.PositiveSmallIntegerField(_("最高年级"), default=6)
    is_outside_area = models.BooleanField(_("区域外学校"), default=False)

    objects = SchoolQuerySet.as_manager()

    class Meta:
        verbose_name = _("学校")
        verbose_name_plural = _("学校")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~Q(code=""), name="school_code_unique"
            ),
            models.CheckConstraint(
                condition=Q(lowest_grade__gte=1)
                & Q(highest_grade__lte=9)
                & Q(lowest_grade__lte=models.F("highest_grade")),
                name="school_grades_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LeftBehind(models.TextChoices):
    NONE = "none", _("否")
    ONE_PARENT = "one_parent", _("父母一方外出")
    BOTH_PARENTS = "both_parents", _("父母均外出")


class Household(models.Model):
    class MonitoringType(models.TextChoices):
        NONE = "", _("非监测对象")
        UNSTABLE = "unstable", _("脱贫不稳定户")
        MARGINAL = "marginal", _("边缘易致贫户")
        SUDDEN_HARDSHIP = "sudden_hardship", _("突发严重困难户")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("户号"), max_length=32, blank=True)
    head_name = models.CharField(_("户主"), max_length=64, blank=True)
    # The head's ID number as a lookup hash, when a list gave it: what tells two households
    # apart whose heads share a name in a list without household numbers.
    head_id_hash = models.CharField(max_length=64, blank=True, editable=False)
    address = models.CharField(_("住址"), max_length=200, blank=True)
    village = models.ForeignKey(
        Region, verbose_name=_("村"), on_delete=models.PROTECT, related_name="households"
    )
    group = models.ForeignKey(
        Region,
        verbose_name=_("组/屯"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="group_households",
    )
    township = models.ForeignKey(
        Region, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    county = models.ForeignKey(
        Region, null=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    is_lifted_from_poverty = models.BooleanField(_("脱贫户"), default=False)
    monitoring_type = models.CharField(
        _("防返贫监测类型"), max_length=20, choices=MonitoringType.choices, blank=True, default=""
    )
    # 风险消除时间: a monitored household whose risk the monitoring system marked eliminated
    # is no longer monitored (its type cleared); the day is kept.
    risk_eliminated_on = models.DateField(_("风险消除时间"), null=True, blank=True)
    parents_away = models.CharField(
        _("外出务工情况"), max_length=20, choices=LeftBehind.choices, default=LeftBehind.NONE
    )
    phone = models.CharField(_("联系电话"), max_length=32, blank=True)

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        verbose_name = _("户")
        verbose_name_plural = _("户")
        ordering = ["village", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["village", "number"],
                condition=~Q(number=""),
                name="household_number_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["village", "head_id_hash"],
                condition=~Q(head_id_hash=""),
                name="household_head_hash_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.head_name or _('户')} {self.number}".strip()

    @property
    def is_key_group(self) -> bool:
        return self.is_lifted_from_poverty or bool(self.monitoring_type)


class DocumentType(models.TextChoices):
    """身份证件类型 other than the 居民身份证 (blank)."""

    HMT_RESIDENCE = "hmt_residence", _("港澳台居民居住证")
    HMT_PERMIT = "hmt_permit", _("港澳台居民来往内地通行证")
    PASSPORT = "passport", _("护照")
    OTHER = "other", _("其他证件")


class Child(models.Model):
    """A person of compulsory-school age or near it, from the 户籍 (population) side."""

    class Sex(models.TextChoices):
        MALE = "M", _("男")
        FEMALE = "F", _("女")
        UNKNOWN = "", _("未知")

    class IdStatus(models.TextChoices):
        # Mirrors baoxue.core.idnumbers.IdStatus; stored so that lists can show the flag.
        EMPTY = "empty", _("无身份证号")
        VALID = "valid", _("有效")
        UPGRADED = "upgraded", _("15位已升级")
        BAD_CHECKSUM = "bad_checksum", _("校验位错误")
        BAD_DATE = "bad_date", _("出生日期无效")
        BAD_FORMAT = "bad_format", _("格式错误")
        # The number is registered to another child, and this record's row did not show it
        # to be that child (another surname, a twin's name): kept, not a key, until a person
        # decides (the review queue).
        CLAIMED = "claimed", _("与他人号码相同，待核实")

    class SchoolStatus(models.TextChoices):
        # Derived from enrollments by services.child_refresh_school_status; lists filter on it.
        IN_SCHOOL = "in_school", _("在校")
        SUSPENDED = "suspended", _("休学")
        NOT_ENROLLED = "not_enrolled", _("未在籍")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = SearchKeyField(_("姓名"), max_length=64)
    name_pinyin = SearchKeyField(max_length=128, blank=True, editable=False)
    name_initials = SearchKeyField(max_length=32, blank=True, editable=False)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices, blank=True)
    ethnicity = models.CharField(_("民族"), max_length=16, blank=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)

    id_number_enc = models.TextField(blank=True, editable=False)
    id_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    id_number_masked = models.CharField(_("身份证号"), max_length=32, blank=True, editable=False)
    # The keyed blind index of the number's last four characters (crypto.suffix_key): the
    # last-digits search without the digits in clear.
    id_suffix = models.CharField(max_length=16, blank=True, editable=False)
    # When a number was changed on the way in (15 → 18 digits), the original is kept too.
    id_number_original_enc = models.TextField(blank=True, editable=False)
    id_status = models.CharField(
        _("身份证号状态"), max_length=16, choices=IdStatus.choices, default=IdStatus.EMPTY
    )
    # For a record whose row gave a number registered to another child (IdStatus.CLAIMED):
    # that number's lookup hash, so that the next file's same row finds this record again
    # while the number itself still names the registered child.
    id_claim_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    # The 防返贫监测 system's number of the person (人编号), from its lists.
    person_number = models.CharField(_("人编号"), max_length=32, blank=True)
    # A child whose document is not a 居民身份证 (a 港澳台 residence permit, a passport): the
    # number is kept as that document's, encrypted and masked like an ID number, never
    # checked as one (and never a failed ID number).
    document_type = models.CharField(
        _("身份证件类型"), max_length=16, choices=DocumentType.choices, blank=True
    )
    document_number_enc = models.TextField(blank=True, editable=False)
    document_number_masked = models.CharField(
        _("证件号码"), max_length=32, blank=True, editable=False
    )

    household = models.ForeignKey(
        Household,
        verbose_name=_("户"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
    )
    village = models.ForeignKey(
        Region,
        verbose_name=_("村"),
        on_delete=models.PROTECT,
        related_name="village_children",
        db_index=False,  # covered by child_village_name_idx
    )
    group = models.ForeignKey(
        Region,
        verbose_name=_("组/屯"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="group_children",
    )
    # Scope columns; their indexes are the composite ones in Meta.
    township = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="+", editable=False, db_index=False
    )
    county = models.ForeignKey(
        Region,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    address = models.CharField(_("住址"), max_length=200, blank=True)

    left_behind = models.CharField(
        _("留守情况"), max_length=20, choices=LeftBehind.choices, default=LeftBehind.NONE
    )
    is_orphan = models.BooleanField(_("孤儿/事实无人抚养"), default=False)
    has_disability = models.BooleanField(_("残疾"), default=False)
    disability_card_enc = models.TextField(blank=True, editable=False)
    disability_category = models.CharField(_("残疾类别"), max_length=16, blank=True)
    disability_grade = models.CharField(_("残疾等级"), max_length=8, blank=True)
    # The 残联 list's 状态 of the card when it is not 有效 (注销, 过期, 待审核 …), as written.
    disability_card_status = models.CharField(_("残疾证状态"), max_length=16, blank=True)
    is_migrant = models.BooleanField(_("随迁/流动"), default=False)
    is_deceased = models.BooleanField(_("已死亡"), default=False)
    # 户口已迁出 (from the roster's 户口状态): no longer the township's child to count.
    moved_away = models.BooleanField(_("户口已迁出"), default=False)
    # On the 户籍 side: registered by a roster import or by hand. A child known only from a
    # 学籍 file is not, until the reconciliation links it to a roster record.
    on_roster = models.BooleanField(_("户籍名册有记录"), default=False)

    school_status = models.CharField(
        _("在校状态"),
        max_length=16,
        choices=SchoolStatus.choices,
        default=SchoolStatus.NOT_ENROLLED,
    )
    current_school = models.ForeignKey(
        School,
        verbose_name=_("就读学校"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="current_students",
        editable=False,
        db_index=False,  # covered by child_school_name_idx
    )
    current_grade = models.PositiveSmallIntegerField(_("年级"), null=True, blank=True)
    current_class = models.CharField(_("班级"), max_length=32, blank=True, editable=False)

    notes = models.TextField(_("备注"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    # Set when this record was merged into another (the same child, from another list): it
    # is kept, with nothing pointing at it, so that the merge can be undone. No constraint
    # in the database (Django keeps SET_NULL): with one, SQLite rewrites every index of a
    # child whose merged_into changes — 20,000 merges of a county's run took 7.5 s, not 0.1.
    # Aged out of compulsory education long enough ago (BAOXUE_ARCHIVE_AFTER_YEARS): the
    # identifying data was wiped by the sweep (cases.retention); lists no longer show it.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merged_records",
        editable=False,
        db_constraint=False,
    )

    objects = ChildManager()
    records = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("适龄儿童少年")
        base_manager_name = "records"
        verbose_name_plural = _("适龄儿童少年")
        ordering = ["name", "id"]
        indexes = [
            # Scope column first, then the list's order, so a scoped page is an index walk.
            models.Index(fields=["county", "name", "id"], name="child_county_name_idx"),
            models.Index(fields=["township", "name", "id"], name="child_township_name_idx"),
            models.Index(fields=["village", "name", "id"], name="child_village_name_idx"),
            models.Index(fields=["current_school", "name", "id"], name="child_school_name_idx"),
            models.Index(fields=["name", "id"], name="child_name_idx"),
            models.Index(fields=["name_initials"], name="child_initials_idx"),
            models.Index(
                fields=["county", "name_initials", "name", "id"], name="child_county_initials_idx"
            ),
            models.Index(
                fields=["township", "name_initials", "name", "id"],
                name="child_township_initials_idx",
            ),
            models.Index(fields=["name_pinyin"], name="child_pinyin_idx"),
            models.Index(fields=["id_suffix"], name="child_id_suffix_idx"),
            models.Index(
                fields=["id_number_hash"],
                name="child_id_hash_idx",
                condition=~Q(id_number_hash=""),
            ),
            models.Index(
                fields=["id_claim_hash"],
                name="child_id_claim_idx",
                condition=~Q(id_claim_hash=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(current_grade__isnull=True)
                | Q(current_grade__gte=1, current_grade__lte=9),
                name="child_grade_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def id_number(self) -> str:
        """The whole ID number. Call only where the user may see it, and log the view."""
        return crypto.decrypt(self.id_number_enc)

    @property
    def id_number_original(self) -> str:
        return crypto.decrypt(self.id_number_original_enc)

    @property
    def disability_card_number(self) -> str:
        return crypto.decrypt(self.disability_card_enc)

    @property
    def id_flagged(self) -> bool:
        return self.id_status not in {self.IdStatus.VALID, self.IdStatus.UPGRADED}

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    def key_group_tags(self) -> list[str]:
        tags: list[str] = []
        if self.household_id and self.household is not None and self.household.is_key_group:
            tags.append(str(_("脱贫/监测户")))
        if self.left_behind != LeftBehind.NONE:
            tags.append(str(_("留守")))
        if self.is_orphan:
            tags.append(str(_("孤儿")))
        if self.has_disability:
            tags.append(str(_("残疾")))
        if self.is_migrant:
            tags.append(str(_("随迁")))
        return tags


class Guardian(models.Model):
    class Relation(models.TextChoices):
        FATHER = "father", _("父亲")
        MOTHER = "mother", _("母亲")
        GRANDPARENT = "grandparent", _("祖父母/外祖父母")
        SIBLING = "sibling", _("兄姐")
        OTHER_RELATIVE = "relative", _("其他亲属")
        OTHER = "other", _("其他")

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="guardians")
    name = models.CharField(_("姓名"), max_length=64)
    relation = models.CharField(_("关系"), max_length=16, choices=Relation.choices)
    phone = models.CharField(_("电话"), max_length=32, blank=True)
    id_number_enc = models.TextField(blank=True, editable=False)
    id_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    id_number_masked = models.CharField(_("身份证号"), max_length=32, blank=True, editable=False)
    lives_with_child = models.BooleanField(_("与儿童同住"), default=True)
    works_away = models.BooleanField(_("外出务工"), default=False)
    work_place = models.CharField(_("务工地"), max_length=100, blank=True)
    is_primary = models.BooleanField(_("主要监护人"), default=False)

    objects = GuardianQuerySet.as_manager()

    class Meta:
        verbose_name = _("监护人")
        verbose_name_plural = _("监护人")
        ordering = ["-is_primary", "id"]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_relation_display()}）"


class Enrollment(models.Model):
    """A 学籍 record. 辍学 is a case state, not an enrollment state: the enrollment stays."""

    class Status(models.TextChoices):
        # 学生当前状态 codes of JY/T 1001 (中小学学籍信息).
        STUDYING = "01", _("在读")
        SUSPENDED = "02", _("休学")
        WITHDRAWN = "03", _("退学")
        STOPPED = "04", _("停学")
        RESUMED = "05", _("复学")
        LOST = "06", _("流失")
        GRADUATED = "07", _("毕业")
        COMPLETED = "08", _("结业")
        INCOMPLETE = "09", _("肄业")
        TRANSFERRED_OUT = "10", _("转出")
        DECEASED = "11", _("死亡")
        RESERVED = "12", _("保留入学资格")
        ABROAD = "13", _("公派出国")
        EXPELLED = "14", _("开除")
        WHEREABOUTS_UNKNOWN = "15", _("下落不明")
        OTHER = "99", _("其他")

    ACTIVE_STATUSES = (Status.STUDYING, Status.RESUMED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="enrollments")
    school = models.ForeignKey(
        School,
        on_delete=models.PROTECT,
        related_name="enrollments",
        db_index=False,  # covered by enrollment_class_idx (school, grade, class)
    )
    # 学籍号 = G/L/J + ID number, so it is protected like the ID number itself.
    student_number_enc = models.TextField(blank=True, editable=False)
    student_number_hash = models.CharField(max_length=64, blank=True, editable=False)
    student_number_masked = models.CharField(_("学籍号"), max_length=32, blank=True)
    grade = models.PositiveSmallIntegerField(_("年级"))
    class_name = models.CharField(_("班级"), max_length=32, blank=True)
    is_boarding = models.BooleanField(_("寄宿"), default=False)
    # 随班就读: a child with a disability in an ordinary class (the 学籍's own column).
    with_class = models.BooleanField(_("随班就读"), default=False)
    # The national template's 学籍辅号 (the school's own number of the pupil) and 班内学号.
    auxiliary_number = models.CharField(_("学籍辅号"), max_length=32, blank=True)
    class_number = models.CharField(_("班内学号"), max_length=16, blank=True)
    status = models.CharField(
        _("学籍状态"), max_length=2, choices=Status.choices, default=Status.STUDYING
    )
    entry_date = models.DateField(_("入学日期"), null=True, blank=True)
    end_date = models.DateField(_("离校日期"), null=True, blank=True)
    # The enrollment that describes the child now (a history keeps the older ones).
    is_current = models.BooleanField(_("当前学籍"), default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The 学籍 import that last wrote this enrollment: a digest of the file row it came from.
    # The same row in a later file is then known to be unchanged without being parsed again.
    # Every other write clears it (registry.services), so it never vouches for a changed row.
    import_fingerprint = models.CharField(max_length=32, blank=True, default="", editable=False)
    # The school's latest 学籍 file no longer lists this current enrollment (since this day),
    # and no transfer explains it: the reconciliation treats the child as a suspected dropout.
    absent_from_list_since = models.DateField(_("不在最新学籍名册中（自）"), null=True, blank=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("学籍")
        verbose_name_plural = _("学籍")
        ordering = ["-is_current", "-entry_date", "-id"]
        indexes = [
            models.Index(fields=["school", "grade", "class_name"], name="enrollment_class_idx"),
            models.Index(
                fields=["student_number_hash"],
                name="enrollment_number_idx",
                condition=~Q(student_number_hash=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade__gte=1, grade__lte=9), name="enrollment_grade_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.school} {self.grade}年级"

    @property
    def student_number(self) -> str:
        return crypto.decrypt(self.student_number_enc)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class EnrollmentEvent(models.Model):
    """学籍异动: a change of an enrollment, with its date and reference."""

    class Kind(models.TextChoices):
        ENROLLED = "enrolled", _("入学")
        TRANSFER_OUT = "transfer_out", _("转出")
        TRANSFER_IN = "transfer_in", _("转入")
        SUSPENSION = "suspension", _("休学")
        RESUMPTION = "resumption", _("复学")
        GRADUATION = "graduation", _("毕业")
        DEATH = "death", _("死亡")
        STATUS_CHANGE = "status_change", _("状态变更")

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("异动类型"), max_length=20, choices=Kind.choices)
    date = models.DateField(_("异动日期"))
    reference = models.CharField(_("文号/依据"), max_length=100, blank=True)
    other_school = models.ForeignKey(
        School,
        verbose_name=_("对方学校"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    other_school_name = models.CharField(_("对方学校名称"), max_length=100, blank=True)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("学籍异动")
        verbose_name_plural = _("学籍异动")
        ordering = ["-date", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class Discrepancy(models.Model):
    """信息不一致: a list says something of a child that the registry holds differently.

    The row was imported (it joined the child its ID number names); what it says differently
    is kept here, both values with where each came from, for the school or village to decide.
    One per child, item and list: a later file repeating a value already judged changes
    nothing, a new value opens it again, the registry's own value coming back closes it."""

    class Item(models.TextChoices):
        NAME = "name", _("姓名")
        BIRTH_DATE = "birth_date", _("出生日期")
        SEX = "sex", _("性别")
        ETHNICITY = "ethnicity", _("民族")
        VILLAGE = "village", _("村")

    class Source(models.TextChoices):
        ROSTER = "roster", _("户籍")
        ENROLLMENT = "enrollment", _("学籍")
        HOUSEHOLDS = "households", _("脱贫户/监测户名单")
        DISABILITY = "disability", _("残联名单")
        REGISTRY = "registry", _("系统登记")

    class Status(models.TextChoices):
        OPEN = "open", _("待核对")
        RESOLVED = "resolved", _("已处理")

    class Resolution(models.TextChoices):
        NONE = "", _("未处理")
        REGISTRY = "registry", _("以系统登记为准")
        SOURCE = "source", _("以名单为准")
        OTHER = "other", _("另填正确值")
        CORRECTED = "corrected", _("名单已更正")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="discrepancies")
    item = models.CharField(_("项目"), max_length=16, choices=Item.choices)
    # The list whose value differs, and that value (as a person reads it: a date as
    # 2013-04-30, a sex as 男, a village by its name).
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices)
    value = models.CharField(_("名单中的值"), max_length=100, blank=True)
    # What the registry holds, and where that came from (the 户籍 when the child was on the
    # roster, else the list that registered it).
    registry_value = models.CharField(_("系统中的值"), max_length=100, blank=True)
    registry_source = models.CharField(
        _("系统值来源"), max_length=16, choices=Source.choices, default=Source.REGISTRY
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(
        _("处理结果"), max_length=16, choices=Resolution.choices, blank=True, default=""
    )
    resolved_value = models.CharField(_("确认的值"), max_length=100, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Where the value was last read: the import batch (not a foreign key: batches may be
    # purged) and the row of its file.
    batch_id = models.PositiveIntegerField(null=True, blank=True, editable=False)
    row_number = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DiscrepancyQuerySet.as_manager()

    class Meta:
        verbose_name = _("信息不一致")
        verbose_name_plural = _("信息不一致")
        ordering = ["child__name", "child_id", "item"]
        constraints = [
            models.UniqueConstraint(
                fields=["child", "item", "source"], name="discrepancy_once_per_source"
            )
        ]
        indexes = [models.Index(fields=["status", "child"], name="discrepancy_status_idx")]

    def __str__(self) -> str:
        return f"{self.child_id} {self.item}: {self.registry_value} / {self.value}"


class ChildMerge(models.Model):
    """Two records of one child made one (合并): the 比对 linked them for certain, or a person
    confirmed the pair. What pointed at the merged record now points at the kept one, and
    `moved` says what, so that the office can undo it: the records come back as they were
    (rows imported since stay with the kept child)."""

    class Status(models.TextChoices):
        DONE = "done", _("已合并")
        UNDONE = "undone", _("已撤销")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kept = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="merges")
    merged = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(_("关联方式"), max_length=16)
    score = models.FloatField(null=True, blank=True)
    # The reconciliation run that merged them (not a foreign key: registry is below it).
    run_id = models.PositiveIntegerField(null=True, blank=True)
    # {model label: [row ids]} moved from the merged record to the kept one, and the kept
    # record's columns it filled from the merged one, as they were: {column: old value}.
    moved = models.JSONField(default=dict, blank=True)
    kept_before = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DONE)
    created_at = models.DateTimeField(_("合并时间"), auto_now_add=True)
    undone_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("记录合并")
        verbose_name_plural = _("记录合并")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.kept_id} ({self.method}, {self.status})"

    @property
    def method_label(self) -> str:
        return str(MERGE_METHOD_LABELS.get(self.method, self.method))


# How two records were found to be one child (the reconciliation engine's link methods).
MERGE_METHOD_LABELS = {
    "id": _("身份证号一致"),
    "id_repair": _("身份证号纠错"),
    "name": _("姓名与出生日期"),
    "id_typo": _("身份证号一位之差，姓名、性别、出生日期一致"),
    "decided": _("人工确认"),
}


# The level a region's parent must have; the scope columns rely on this shape.
PARENT_LEVEL = {
    "city": {"province"},
    "county": {"province", "city"},
    "township": {"county"},
    "village": {"township"},
    "group": {"village"},
}


def region_columns(region: Region) -> dict[str, Any]:
    """The denormalised scope columns (county, township) for something placed in `region`.

    Walks up through the parent objects, which Django caches on each instance, so a loader
    that places thousands of rows in the same village asks the database once.
    """
    found: dict[str, Any] = {"county_id": None, "township_id": None}
    node: Region | None = region
    while node is not None:
        if node.level in ("county", "township"):
            found[f"{node.level}_id"] = node.pk
        node = node.parent if node.parent_id else None
    return found


class CountSnapshot(models.Model):
    """When the per-village counts of one county were last computed (see VillageCount)."""

    county = models.OneToOneField(Region, on_delete=models.CASCADE, related_name="+")
    cutoff = models.DateField()
    refreshed_at = models.DateTimeField()
    # Set by every write that changes the county's children; cleared when a refresh starts,
    # so a write during a refresh schedules the next one.
    is_stale = models.BooleanField(default=False)
    registered = models.PositiveIntegerField(default=0)
    duplicate_ids = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("统计快照")
        verbose_name_plural = _("统计快照")

    def __str__(self) -> str:
        return f"{self.county} {minute_text(self.refreshed_at)}"


class VillageCount(models.Model):
    """Compulsory-age children per village × school attended × school status.

    County-wide pages read these few thousand rows instead of grouping a million children on
    every request; township and smaller scopes count live.
    """

    village = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    county = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="+")
    school = models.ForeignKey(
        School, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    school_status = models.CharField(max_length=16, choices=Child.SchoolStatus.choices)
    children = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("村统计")
        verbose_name_plural = _("村统计")

    def __str__(self) -> str:
        return f"{self.village_id}/{self.school_id}/{self.school_status}: {self.children}"
