"""Import batches: one row per uploaded file, kept as history with its counts and issues."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from baoxue.accounts.actors import signed_in
from baoxue.accounts.scope import scope_for
from baoxue.core import jobs
from baoxue.core.progress import STALE_SECONDS, last_beat
from baoxue.registry.models import Region


def batch_upload_to(instance: ImportBatch, filename: str) -> str:
    # The stored name never contains the user's file name (it may hold a person's name).
    return f"imports/{instance.created_at:%Y/%m}/{instance.public_id}.bin"


class ImportBatchQuerySet(models.QuerySet["ImportBatch"]):
    def visible_to(self, user: object) -> ImportBatchQuerySet:
        """Batches of the townships and whole schools in the user's scope, and the user's
        own while the user still works in the batch's township or school: a cadre or a
        principal whose role has ended, or moved to another township or school, no longer
        sees the rows of the old one's files."""

        scope = scope_for(user)
        q = Q(pk__in=[])
        # Where the user's own batches stay visible (a village's or the 残联's grant sees no
        # batch of others).
        still_there = Q(pk__in=[])
        for grant in scope.regions:
            if grant.level in {"province", "city", "county"}:
                area = Q(township__path__startswith=grant.path)
            elif grant.township_id is not None:
                area = Q(township_id=grant.township_id)
            else:
                continue
            still_there |= area
            if not grant.disability_only and grant.level not in {"village", "group"}:
                q |= area
        for school in scope.schools:
            still_there |= Q(school_id=school.school_id)
            # A teacher's grant covers one grade or class; a school's batch holds the whole
            # school (its preview, its error report): only a whole-school grant sees it.
            if school.grade is None and not school.class_name:
                q |= Q(school_id=school.school_id)
        if signed_in(user):
            q |= Q(created_by=user) & still_there
        return self.filter(q)


class ImportBatch(jobs.Job):
    """An uploaded file and its two runs (a core.jobs.Job): validation, then, once the user
    confirms, the commit. A run whose worker is gone gives the batch back to the state before
    it (nothing was written: the commit is one transaction), to be run again."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("已上传")
        VALIDATING = "validating", _("校验中")
        VALIDATED = "validated", _("待确认导入")
        REFUSED = "refused", _("文件无法导入")
        COMMITTING = "committing", _("导入中")
        COMMITTED = "committed", _("已导入")
        FAILED = "failed", _("导入失败")
        CANCELLED = "cancelled", _("已取消")

    # Each run: the state it starts from (and is given back to) and the state it holds.
    RUNS = {
        "validate": (Status.UPLOADED.value, Status.VALIDATING.value),
        "commit": (Status.VALIDATED.value, Status.COMMITTING.value),
    }
    RUNNING = frozenset(during for _before, during in RUNS.values())
    AUDIT_INTERRUPTED = "import.interrupted"
    INTERRUPTED_MESSAGES = {
        "validate": _(
            "上次校验没有完成：处理它的后台程序中断了（例如服务器重启）。数据未作任何改动，请重新校验。"
        ),
        "commit": _(
            "上次确认导入没有完成：处理它的后台程序中断了（例如服务器重启）。数据未作任何改动，可以再次确认导入。"
        ),
    }
    # A run without a token (started before runs had them, or by a direct call that finishes
    # in its own process) is taken for gone after a day.
    UNTOKENED_STALE_SECONDS = 86400

    source = models.CharField(_("数据来源"), max_length=32)
    file = models.FileField(upload_to=batch_upload_to, max_length=200)
    filename = models.CharField(_("文件名"), max_length=255)
    checksum = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    # Made by the upload page: a double click or a retried upload finds the first batch.
    client_token = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("导入人"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("上传时间"))
    # Where the import was made: rows outside this township/school are refused.
    township = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    school = models.ForeignKey(
        "registry.School", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A village cadre's batch: the villages it may change (None: the whole township), kept so
    # that the township office committing it imports what the cadre's preview showed.
    village_ids = models.JSONField(null=True, blank=True, default=None)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.UPLOADED
    )
    message = models.TextField(_("说明"), blank=True)
    sheet_name = models.CharField(max_length=100, blank=True)
    header_row = models.PositiveIntegerField(null=True, blank=True)
    headers = models.JSONField(default=list, blank=True)
    # The first few data rows as text (ID numbers masked), shown under each column while
    # mapping: a column without a header is recognised by what it holds.
    samples = models.JSONField(default=list, blank=True)
    # Choices made with the mapping, e.g. {"complete_list": false} for a partial 学籍 list.
    options = models.JSONField(default=dict, blank=True)
    # Column index (as a string) → field name; empty string for "ignore this column".
    mapping = models.JSONField(default=dict, blank=True)
    # The run (validation or commit) that owns the batch while it is validating or
    # committing: a run whose token is no longer the batch's writes nothing (see
    # core.jobs.give_up_if_stopped). task_id: its background task, to tell queued from gone.
    attempt = models.CharField(max_length=32, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_stage = models.CharField(max_length=32, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rows_warned = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    # What the preview showed: examples of each action and the places/schools to be created.
    preview = models.JSONField(default=dict, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ImportBatchQuerySet.as_manager()

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "client_token"],
                condition=~Q(client_token=""),
                name="import_client_token_unique",
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")) | Q(progress_total=0),
                name="import_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.get_status_display()})"

    @property
    def preview_token(self) -> str:
        """Which preview a page showed: the commit form carries it, and a commit from a page
        whose preview has since been made again (another tab changed the mapping) is sent
        back to the new one."""
        return self.validated_at.isoformat() if self.validated_at else ""

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def source_label(self) -> str:
        # The sources' registry imports the pipeline, which imports these models: read when
        # asked, once the apps are ready (each app has registered its sources by then).
        from baoxue.imports.registry import SOURCES

        source = SOURCES.get(self.source)
        return str(source.label) if source else self.source

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING

    # --- the job (core.jobs): a run is given back, not failed --------------------------------

    @property
    def run(self) -> str | None:
        """The run ("validate", "commit") holding the batch now, if any."""
        return next((r for r, (_b, during) in self.RUNS.items() if during == self.status), None)

    @property
    def beat_key(self) -> str:
        """Each run beats under its own token: a late beat of an old run is not the new one's."""
        return f"{self.progress_key}:{self.attempt}"

    def worker_stopped(self, now: float | None = None) -> bool:
        """Gone: its task ended without finishing the batch, or no heartbeat for STALE_SECONDS
        (a task still queued is waiting, not gone)."""
        run = self.run
        if run is None:
            return False
        now = time.time() if now is None else now
        if not self.attempt:
            # Nothing to tell it by but its age.
            since = self.validated_at if run == "commit" else self.created_at
            return since is not None and now - since.timestamp() >= self.UNTOKENED_STALE_SECONDS
        beat = last_beat(self.beat_key)
        if beat is not None and now - beat < STALE_SECONDS:
            return False
        state = jobs.task_state(self.task_id)
        if state is None:
            return beat is not None  # it beat once, and stopped
        status, started = state
        if status == "READY":
            return False
        if status == "RUNNING":
            return beat is not None or (
                started is not None and now - started.timestamp() > STALE_SECONDS
            )
        return True  # ended (successful, failed) or no longer known, with the batch still held

    def held(self) -> dict[str, Any]:
        return {"status": self.status, "attempt": self.attempt}

    def given_up(self) -> dict[str, Any]:
        run = self.run or "validate"
        return {
            "status": self.RUNS[run][0],
            "attempt": "",
            "task_id": "",
            "message": str(self.INTERRUPTED_MESSAGES[run]),
        }

    def audit_data(self) -> dict[str, Any]:
        return {"run": self.run}

    # Names of village_ids' villages, when read for many batches at once (with_village_names).
    _village_names: dict[int, str] | None = None

    @property
    def absent_total(self) -> int:
        """Current students of the file's schools that committing will mark as not on the
        list (a 学籍 import that is the schools' whole list)."""
        absent = (self.preview or {}).get("absent_from_list") or {}
        return sum(int(n) for n in absent.values())

    @property
    def target_label(self) -> str:
        """Where the file was imported to: the school, the cadre's villages, or the township.
        The villages' names are read here, or once for a list (with_village_names)."""
        if self.school_id is not None:
            return str(self.school)
        if self.village_ids:
            if self._village_names is None:
                ImportBatch.with_village_names([self])
            names = self._village_names or {}
            return "、".join(names[pk] for pk in self.village_ids if pk in names)
        return str(self.township or "")

    @staticmethod
    def with_village_names(batches: list[ImportBatch]) -> list[ImportBatch]:
        """The batches, with the names of the villages of cadres' batches read in one query."""

        ids = {pk for b in batches for pk in b.village_ids or ()}
        names = dict(Region.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
        for b in batches:
            b._village_names = names
        return batches


# Warning codes of rows that are skipped: an exact repeat of another row, the template's
# example row, a person the list names who is not the import's concern (an adult or a
# pre-school child in the 残联 list). See ImportIssue.kind_label and Outcome.skipped_rows.
SKIPPED_ROW_CODES = frozenset({"repeat", "example", "not_school_age", "adult"})


class ImportIssue(models.Model):
    """A rejected row or a doubtful value, with the original row for the error report."""

    class Severity(models.TextChoices):
        ERROR = "error", _("错误（该行不导入）")
        WARNING = "warning", _("提醒（该行导入）")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="issues")
    row_number = models.PositiveIntegerField(_("行号"))
    column = models.CharField(_("列"), max_length=100, blank=True)
    severity = models.CharField(_("类型"), max_length=8, choices=Severity.choices)
    code = models.CharField(max_length=40)
    message = models.TextField(_("原因"))
    # The row as it was in the file (cleaned to text), so the report can show it beside the
    # reason. ID numbers in it are masked: the report is handed around.
    original = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("导入问题")
        verbose_name_plural = _("导入问题")
        ordering = ["row_number", "id"]
        indexes = [models.Index(fields=["batch", "severity", "row_number"], name="issue_batch_idx")]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.message}"

    @property
    def kind_label(self) -> str:
        """The type as the preview shows it: a warning about a row that is not written on its
        own (an exact repeat of another row, the template's example row) says so."""
        if self.severity == self.Severity.WARNING and self.code in SKIPPED_ROW_CODES:
            return str(_("提醒（该行跳过）"))
        return str(self.get_severity_display())


class ColumnMapping(models.Model):
    """A header the user mapped by hand, remembered per source for the next file."""

    source = models.CharField(max_length=32)
    header = models.CharField(max_length=100)
    field = models.CharField(max_length=64, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("列映射")
        verbose_name_plural = _("列映射")
        constraints = [
            models.UniqueConstraint(fields=["source", "header"], name="column_mapping_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.header} → {self.field or '-'}"


class ListReceipt(models.Model):
    """A whole list that arrived: one school's 学籍 or one village's 户籍 roster, on a day.

    The 比对 asks for these before it trusts that a child missing from the lists is out of
    school: a school whose list for the term has not come would make all its pupils 待核实.
    Written with every committed import of a whole list (a partial 学籍 is not one), the
    same file again included: it is this term's list all the same."""

    class Kind(models.TextChoices):
        ROSTER = "roster", _("户籍名册")
        ENROLLMENT = "enrollment", _("学籍名册")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    school = models.ForeignKey(
        "registry.School", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    village = models.ForeignKey(
        "registry.Region", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    received_on = models.DateField(_("导入日期"))
    # The batch (not a foreign key: batches may be purged; None for an import without one).
    batch_id = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("名单导入记录")
        verbose_name_plural = _("名单导入记录")
        indexes = [
            models.Index(fields=["school", "received_on"], name="receipt_school_idx"),
            models.Index(fields=["village", "received_on"], name="receipt_village_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(school__isnull=False) | Q(village__isnull=False),
                name="receipt_names_a_place",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.school_id or self.village_id} {self.received_on}"
