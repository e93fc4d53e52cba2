"""Import batches through their stages: upload → mapping → validation → preview → commit.

Validation and commit run as background tasks; both re-read the stored file, so the commit
plans against the registry as it is at that moment, not as it was at the preview.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.accounts.actors import Actor, person, required_person
from baoxue.accounts.permissions import can_reveal_id_number
from baoxue.core import crypto, idnumbers, jobs
from baoxue.core.services import log_action
from baoxue.core.text import days_text
from baoxue.imports import pipeline, tasks  # tasks imports this one: used when called
from baoxue.imports.models import ColumnMapping, ImportBatch, ImportIssue
from baoxue.imports.reading import FileRefused
from baoxue.imports.registry import SOURCES, ImportGrant, import_grants
from baoxue.imports.sources.base import Action, header_key, missing_required
from baoxue.imports.values import mask_numbers
from baoxue.registry.models import Child, Enrollment, LeftBehind, Region, School

# Names of changes that are not a field of the file.
CHANGE_LABELS = {
    "village_id": gettext_lazy("村"),
    "id_number": gettext_lazy("身份证号"),
    "guardian": gettext_lazy("监护人"),
    "household": gettext_lazy("户号"),
    "school": gettext_lazy("学校"),
    "status": gettext_lazy("学籍状态"),
    "is_boarding": gettext_lazy("是否住校"),
    "entry_date": gettext_lazy("入学日期"),
    "has_disability": gettext_lazy("残疾"),
    "disability": gettext_lazy("残疾"),
    "document": gettext_lazy("其他证件"),
    "category": gettext_lazy("残疾类别"),
    "card": gettext_lazy("残疾人证号"),
    "head_name": gettext_lazy("户主"),
    "head_id_hash": gettext_lazy("户主身份证号"),
    "phone": gettext_lazy("联系电话"),
    "left_behind": gettext_lazy("留守情况"),
    "is_migrant": gettext_lazy("流动儿童"),
    "is_deceased": gettext_lazy("已死亡"),
    "moved_away": gettext_lazy("已迁出"),
    "absent_from_list_since": gettext_lazy("不在名册中（自）"),
    "on_roster": gettext_lazy("户籍名册有记录"),
}
# Coded values of the changes, as the registry's pages show them.
CHANGE_CHOICES: dict[str, dict[Any, Any]] = {
    "sex": dict(Child.Sex.choices),
    "left_behind": dict(LeftBehind.choices),
    "status": dict(Enrollment.Status.choices),
    "is_boarding": {True: gettext_lazy("住校"), False: gettext_lazy("走读")},
}
_ID_STATUSES = dict(Child.IdStatus.choices)


def change_text(name: str, value: Any) -> str:
    """One side of a change in a preview, as a person reads it: a code's label, 是/否, a
    date, a grade; an ID number masked (previews are kept with the batch and shown in it)."""
    if value is None or value == "":
        return ""
    if name == "id_number":
        # The old side is the registry's ID status (there was no valid number), the new a number.
        return str(_ID_STATUSES[value]) if value in _ID_STATUSES else idnumbers.mask(str(value))
    # A number where another value belongs (a column mapped wrong) is masked all the same.
    return mask_numbers(_change_text(name, value))


def _change_text(name: str, value: Any) -> str:
    if name in CHANGE_CHOICES:
        return str(CHANGE_CHOICES[name].get(value, value))
    if isinstance(value, bool):
        return str(_("是") if value else _("否"))
    if name == "grade" and isinstance(value, int):
        return _("%(n)s年级") % {"n": value}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return days_text(value)  # days with half days (考勤): 3, not 3.0
    return str(value)


PROGRESS_EVERY = 2000


def _sha256(handle: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    handle.seek(0)
    return digest.hexdigest(), size


def grant_for(user: Any, source: str, township: Region | None = None, key: str = "") -> ImportGrant:
    """The grant a new file is imported under: the one named by `key` (a form's or the
    command line's choice), else the user's only grant for the source (in `township`, when
    given). Several grants and no choice is refused rather than guessed."""
    grants = import_grants(user, source)
    if township is not None:
        grants = [g for g in grants if g.township.pk == township.pk]
    if key and grants and not any(g.key == key for g in grants):
        raise PermissionDenied(
            _("“%(source)s”只能导入到：%(places)s。")
            % {"source": SOURCES[source].label, "places": "、".join(g.label for g in grants)}
        )
    if key:
        grants = [g for g in grants if g.key == key]
    if not grants:
        raise PermissionDenied(_("您没有导入此类数据的权限。"))
    if len(grants) > 1:
        raise PermissionDenied(
            _("您可以导入到多个地方（%(places)s），请选择导入到哪里。")
            % {"places": "、".join(g.label for g in grants)}
        )
    return grants[0]


def grant_for_batch(user: Any, batch: ImportBatch) -> ImportGrant:
    """The grant under which the user may act on a staged batch (validate, commit): the
    township office's for any batch of its township, a school's for its own school's."""
    grants = [
        g for g in import_grants(user, batch.source) if g.covers(batch.township_id, batch.school_id)
    ]
    if not grants:
        raise PermissionDenied(_("您没有导入此类数据的权限。"))
    return grants[0]


def import_targets(grants_by_source: dict[str, list[ImportGrant]]) -> list[tuple[str, str]]:
    """Where a user can import into (all_import_grants), over every source, as (key, label)
    choices."""
    targets: dict[str, str] = {}
    for grants in grants_by_source.values():
        for g in grants:
            targets.setdefault(g.key, g.label)
    return list(targets.items())


def remembered_mapping(source: str) -> dict[str, str]:
    return dict(ColumnMapping.objects.filter(source=source).values_list("header", "field"))


def batch_upload(
    *,
    actor: Actor,
    source: str,
    handle: BinaryIO,
    filename: str,
    township: Region | None = None,
    target: str = "",
    client_token: str = "",
) -> ImportBatch:
    """Store the file and read its header. A file that cannot be read at all is kept with
    status "refused" and the reason, so the user sees why."""
    checksum, size = _sha256(handle)
    client_token = client_token[:64]
    earlier = _earlier_upload(actor, client_token)
    if earlier is not None and (earlier.checksum, earlier.source) != (checksum, source):
        # The page was brought back by the browser's Back button with its old token, and
        # the user has chosen a corrected file (or the right kind of list): a new upload,
        # under a token of its own (which a double click of it finds again).
        tail = hashlib.sha256(f"{source}:{checksum}".encode()).hexdigest()[:32]
        client_token = f"{client_token[:31]}:{tail}"
        earlier = _earlier_upload(actor, client_token)
    if earlier is not None:
        return earlier
    if source not in SOURCES:
        raise ValidationError(_("未知的数据来源。"))
    grant = grant_for(actor, source, township, target)
    limit = settings.BAOXUE_IMPORT_MAX_UPLOAD_MB
    if size > limit * 1024 * 1024:
        raise ValidationError(_("文件超过 %(mb)s MB，请拆分后再导入。") % {"mb": limit})
    batch = _new_batch(
        actor=actor,
        source=source,
        grant=grant,
        filename=filename,
        checksum=checksum,
        size=size,
        client_token=client_token[:64],
    )
    try:
        with _stored_with(batch, handle):
            # The file is read before the transaction, never inside it: on SQLite a write
            # transaction holds the database's one write lock, and a file that takes long to
            # read once made every other user's login fail with "database is locked".
            _read_header(batch)
            with transaction.atomic():
                batch.save()
                log_action(
                    actor=actor,
                    action="import.uploaded",
                    obj=batch,
                    data={"source": source, "checksum": checksum, "size": size},
                )
    except IntegrityError:
        # The same form sent twice at once (a double click on a slow line): the other
        # request stored its batch between our check above and our save. That batch is the
        # upload; this one leaves nothing.
        earlier = _earlier_upload(actor, client_token)
        if earlier is None:
            raise
        return earlier
    return batch


def _earlier_upload(actor: Actor, client_token: str) -> ImportBatch | None:
    """The batch the same upload form (its token) already made, if any."""
    if not client_token:
        return None
    return ImportBatch.objects.filter(
        created_by=person(actor), client_token=client_token[:64]
    ).first()


def _new_batch(
    *,
    actor: Actor,
    source: str,
    grant: ImportGrant,
    filename: str,
    checksum: str,
    size: int,
    **fields: Any,
) -> ImportBatch:
    """A batch (not saved yet) of a file imported by `actor` under `grant`. Its name is shown
    to all who see the batch: a number in it (a file named after a child) is masked."""
    return ImportBatch(
        source=source,
        filename=mask_numbers(filename)[:255],
        checksum=checksum,
        size=size,
        created_by=person(actor),
        created_at=fields.pop("created_at", None) or timezone.now(),
        township=grant.township,
        school=grant.school,
        village_ids=sorted(grant.village_ids) if grant.village_ids is not None else None,
        **fields,
    )


@contextmanager
def _stored_with(batch: ImportBatch, handle: BinaryIO) -> Iterator[None]:
    """Store the file as the batch's copy for the block that saves the batch; if the block
    fails (its transaction then rolls back), the copy is deleted again: no file of
    children's data is kept that no batch lists."""
    batch.file.save(f"{batch.public_id}.bin", File(handle), save=False)
    try:
        yield
    except BaseException:
        batch.file.storage.delete(batch.file.name)
        raise


def _read_header(batch: ImportBatch) -> None:
    """The stored file's sheet, header row, sample rows and the mapping recognised for it;
    a file that cannot be read is marked refused with the reason."""
    source = SOURCES[batch.source]
    try:
        with batch_path(batch) as path:
            table = pipeline.open_table(path, source)
        batch.sheet_name = table.sheet_name
        batch.header_row = table.header_row
        # A file without a header row has its first row read as one: numbers in it masked.
        batch.headers = [pipeline.masked_cell(h) for h in table.headers]
        batch.samples = pipeline.sample_rows(table)
        batch.mapping = pipeline.resolve_mapping(
            source, table.headers, None, remembered_mapping(batch.source)
        )
    except FileRefused as exc:
        batch.status = ImportBatch.Status.REFUSED
        batch.message = mask_numbers(str(exc))  # it may quote a cell


@contextmanager
def batch_path(batch: ImportBatch) -> Iterator[Path]:
    """A local path to the stored file's content, for the readers: a temporary file holding
    it decrypted (stored files are encrypted, core.storage; the storage may also be
    S3-compatible), deleted when the block ends."""
    if not getattr(batch.file.storage, "encrypted", False):
        try:
            yield Path(batch.file.path)
            return
        except NotImplementedError:
            pass
    with tempfile.NamedTemporaryFile(suffix=Path(batch.filename).suffix) as tmp:
        with batch.file.open("rb") as stored:
            for chunk in iter(lambda: stored.read(1 << 20), b""):
                tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)


def batch_set_mapping(
    *,
    actor: Actor,
    batch: ImportBatch,
    mapping: dict[str, str],
    options: dict[str, Any] | None = None,
) -> ImportBatch:
    source = SOURCES[batch.source]
    known = {f.name for f in source.fields}
    clean = {k: v for k, v in mapping.items() if v in known and k.isdigit()}

    def refuse(message: str) -> ValidationError:
        # The choices made so far stay on the page, to be corrected rather than redone.
        batch.mapping, batch.options = clean, options or {}
        batch.save(update_fields=["mapping", "options"])
        return ValidationError(message)

    if len(set(clean.values())) != len(clean):
        raise refuse(_("同一项不能对应两列，请检查列对应。"))
    missing = missing_required(source.fields, clean)
    if missing:
        # Said here, while the columns can still be mapped, not after a validation that
        # can only refuse the file.
        raise refuse(
            _(
                "还有必填项没有对应到文件中的列：%(fields)s。请在下面为它们选择列；如果文件里没有这些列，可能选错了数据类型。"
            )
            % {"fields": "、".join(f.label for f in missing)}
        )
    with transaction.atomic():
        batch.mapping = clean
        batch.options = options or {}
        batch.status = ImportBatch.Status.UPLOADED
        batch.save(update_fields=["mapping", "options", "status"])
        automatic = pipeline.resolve_mapping(source, batch.headers, None, {})
        for index, field in clean.items():
            header = batch.headers[int(index)] if int(index) < len(batch.headers) else ""
            if header and automatic.get(index) != field:
                ColumnMapping.objects.update_or_create(
                    source=batch.source,
                    header=header_key(header)[:100],
                    defaults={"field": field, "updated_by": actor},
                )
        log_action(actor=actor, action="import.mapped", obj=batch, data={"mapping": clean})
    return batch


def _context(batch: ImportBatch, actor: Actor) -> pipeline.ImportContext:
    grant = grant_for_batch(actor, batch)
    village_ids = grant.village_ids
    if batch.village_ids is not None:
        staged = frozenset(batch.village_ids)
        village_ids = staged if village_ids is None else staged & village_ids
    return pipeline.ImportContext(
        actor=actor,
        township=grant.township,
        # A school's or a village's file stays theirs when the township office commits it.
        school=batch.school or grant.school,
        village_ids=village_ids,
        batch_id=batch.pk,
        complete_list=bool(batch.options.get("complete_list", True)),
        default_school=_default_school(batch, grant.township),
        village_decisions=dict((batch.options or {}).get("villages", {})),
    )


def _default_school(batch: ImportBatch, township: Region) -> School | None:
    """The school chosen for a 学籍 file without a school column (one of the township's)."""
    chosen = batch.options.get("default_school")
    if not isinstance(chosen, int):
        return None
    return School.objects.filter(pk=chosen, township=township).first()


def _progress_writer(batch: ImportBatch) -> pipeline.Progress:
    """The stage's progress for the page; it starts from nothing, so that a commit does not
    show the validation's last 100 %."""
    batch.report("", 0, 0)
    return batch.report


def _store_outcome(batch: ImportBatch, outcome: pipeline.Outcome) -> None:
    batch.rows_total = outcome.rows_total
    batch.rows_created = outcome.count(Action.CREATE)
    batch.rows_updated = outcome.count(Action.UPDATE)
    batch.rows_unchanged = outcome.count(Action.UNCHANGED)
    batch.rows_rejected = outcome.rejected_rows
    batch.rows_warned = outcome.warned_rows
    batch.rows_skipped = outcome.skipped_rows
    ImportIssue.objects.filter(batch=batch).delete()
    originals = outcome.originals
    ImportIssue.objects.bulk_create(
        [
            ImportIssue(
                batch=batch,
                row_number=i.row_number,
                column=i.column,
                severity=i.severity,
                code=i.code,
                message=i.message,
                original=originals.get(i.row_number, []),
            )
            for i in outcome.issues
        ],
        batch_size=2000,
    )


def _preview(
    source: pipeline.Source, ctx: pipeline.ImportContext, outcome: pipeline.Outcome
) -> dict[str, Any]:
    """What the batch page shows beside the counts: after validation what committing will do,
    after the commit what it did (the commit plans again, against the registry as it is
    then)."""
    return {
        "examples": outcome.examples(
            {**{f.name: f.label for f in source.fields}, **CHANGE_LABELS}, change_text
        ),
        "new_places": ctx.places.proposals(),
        "new_schools": ctx.schools.proposals(),
        # Current 学籍 of the file's schools that the file does not list (学籍 only).
        "absent_from_list": ctx.notes.get("absent_from_list", {}).get("schools", {}),
        # What the rows say differently of registered children (信息不一致), newly kept.
        "discrepancies": writes.count if (writes := ctx.notes.get("discrepancies")) else 0,
        # A file without 年级: how many rows' grades came from what (学籍 only).
        "grade_from": ctx.notes.get("grade_from", {}),
        # New village names that resemble a known one: asked, no default (Places).
        "village_questions": ctx.places.questions(),
        # A whole household's 花名册: the adults taken only as heads and guardians.
        "adults_skipped": ctx.notes.get("adults_skipped", 0),
        # Different ID numbers per region and birth date, hashed (the probe check), for a
        # user who may not reveal numbers (the only one the check counts).
        "id_prefixes": {} if can_reveal_id_number(ctx.actor) else id_prefixes(outcome),
    }


def id_prefixes(outcome: pipeline.Outcome) -> dict[str, int]:
    """How many different ID numbers the file's rows give per region and birth date (the
    first 14 characters), keyed by a keyed hash of those characters (nothing of them in the
    clear): what the probe check below adds up."""
    numbers: dict[str, set[str]] = {}
    for planned in outcome.planned:
        values = planned.record.values
        # A person's number (roster, 学籍), or the one inside a 残疾人证号 (disability list).
        info = values.get("id_info") or getattr(values.get("card"), "id_info", None)
        if isinstance(info, idnumbers.IdInfo) and info.is_valid and len(info.value) == 18:
            numbers.setdefault(info.value[:14], set()).add(info.value)
    return {crypto.lookup_hash("id-prefix:" + k): len(v) for k, v in numbers.items()}


def _probing(actor: Actor, batch: ImportBatch, prefixes: dict[str, int]) -> int:
    """The most different ID numbers of one region and birth date that this file and the
    user's files of the last BAOXUE_IMPORT_PROBE_DAYS give, for a user who may not reveal ID
    numbers: many is someone trying the 500 numbers a masked one may be, one file or a few
    at a time, and reading which one the preview matches (0: the user may reveal)."""
    if can_reveal_id_number(actor) or not prefixes:
        return 0
    since = timezone.now() - timedelta(days=settings.BAOXUE_IMPORT_PROBE_DAYS)
    totals = dict(prefixes)
    earlier = (
        ImportBatch.objects.filter(created_by=person(actor), created_at__gte=since)
        .exclude(pk=batch.pk)
        .values_list("preview", flat=True)
    )
    for preview in earlier:
        for key, count in ((preview or {}).get("id_prefixes") or {}).items():
            if key in totals:
                totals[key] += count
    return max(totals.values())


def batch_validate(*, actor: Actor, batch: ImportBatch, attempt: str = "") -> ImportBatch:
    """Read and check every row and plan it against the registry, writing nothing but the
    batch's preview and issues. `attempt`: the run's token (batch_start); a run whose token is
    no longer the batch's (declared interrupted, started again) stores nothing."""
    source = SOURCES[batch.source]
    if not attempt:
        ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.VALIDATING)
    owned = _owned(batch, attempt, ImportBatch.Status.VALIDATING)
    try:
        ctx = _context(batch, actor)
        with batch_path(batch) as path:
            outcome = pipeline.run(
                path, source, ctx, mapping=batch.mapping, progress=_progress_writer(batch)
            )
    except Exception as exc:
        if not _record_failure(owned, exc, _("校验未完成，数据未作任何改动。原因：%(e)s")):
            raise
        batch.refresh_from_db()
        return batch
    with transaction.atomic():
        if not owned.exists():
            batch.refresh_from_db()
            return batch
        batch.refresh_from_db()
        preview = _preview(source, ctx, outcome)
        tried = _probing(actor, batch, preview["id_prefixes"])
        if tried > settings.BAOXUE_IMPORT_PROBE_LIMIT:
            # Nothing of the plan is kept or shown: the preview is what would answer.
            owned.update(
                status=ImportBatch.Status.REFUSED,
                message=_(
                    "这个文件（连同您近 %(days)s 天导入的文件）有 %(n)s 个出生日期和地区码"
                    "都相同的不同身份证号，像是在逐个试号，已拒绝。确需导入请交乡镇控辍保学"
                    "办公室导入。"
                )
                % {"days": settings.BAOXUE_IMPORT_PROBE_DAYS, "n": tried},
                attempt="",
            )
            log_action(
                actor=actor,
                action="import.probe_refused",
                obj=batch,
                data={"numbers": tried},
            )
            batch.refresh_from_db()
            return batch
        _store_outcome(batch, outcome)
        batch.preview = preview
        batch.status = ImportBatch.Status.VALIDATED
        batch.validated_at = timezone.now()
        batch.message = ""
        batch.attempt = ""
        batch.save()
    return batch


def _record_failure(owned: Any, exc: Exception, failed: str) -> bool:
    """Say on the batch (while the run owns it) why its run stopped: a file that cannot be
    imported or rights withdrawn since the upload refuse it (True: handled); anything else
    fails it with `failed` (a message with %(e)s) and is for the caller to raise."""
    # Either may quote a cell of the file (a header, a value a database error repeats).
    if isinstance(exc, FileRefused | PermissionDenied):
        owned.update(status=ImportBatch.Status.REFUSED, message=mask_numbers(str(exc)), attempt="")
        return True
    owned.update(
        status=ImportBatch.Status.FAILED, message=mask_numbers(failed % {"e": exc}), attempt=""
    )
    return False


def _owned(batch: ImportBatch, attempt: str, status: str) -> Any:
    """The batch, as long as the run of token `attempt` owns it (any run, without a token)."""
    rows = ImportBatch.objects.filter(pk=batch.pk, status=status)
    return rows.filter(attempt=attempt) if attempt else rows


# A run starts from one status, holds the batch in another and, interrupted, gives it back.
def batch_start(*, batch: ImportBatch, run: str) -> str | None:
    """Claim the batch for a run ("validate" or "commit"): its token, or None when the batch
    is not in the run's starting status (a double click, another user first)."""
    before, during = ImportBatch.RUNS[run]
    attempt = uuid.uuid4().hex
    claimed = ImportBatch.objects.filter(pk=batch.pk, status=before).update(
        status=during, attempt=attempt, task_id="", message=""
    )
    return attempt if claimed else None


def batch_enqueue(*, batch: ImportBatch, run: str, actor: Actor) -> bool:
    """Claim the batch and queue its run as a background task (once the caller's transaction
    commits); False if the batch was not there to claim."""
    with transaction.atomic():
        attempt = batch_start(batch=batch, run=run)
        if attempt is None:
            return False
        task = tasks.validate_batch if run == "validate" else tasks.commit_batch

        def keep_id(result: Any) -> None:
            ImportBatch.objects.filter(pk=batch.pk, attempt=attempt).update(task_id=str(result.id))

        # In the language of the page that asked: the run stores its messages as text.
        jobs.enqueue_on_commit(
            task,
            batch.pk,
            required_person(actor).pk,
            attempt,
            translation.get_language() or "",
            then=keep_id,
        )
    return True


CANCELLABLE = (
    ImportBatch.Status.UPLOADED,
    ImportBatch.Status.VALIDATED,
    ImportBatch.Status.REFUSED,
)


def batch_cancel(*, actor: Actor, batch: ImportBatch) -> bool:
    """Set a staged batch aside, nothing imported (it can no longer be committed); False
    when it is no longer staged (a commit claimed it first)."""
    with transaction.atomic():
        done = bool(
            ImportBatch.objects.filter(pk=batch.pk, status__in=CANCELLABLE).update(
                status=ImportBatch.Status.CANCELLED
            )
        )
        if done:
            log_action(actor=actor, action="import.cancelled", obj=batch)
            # The file holds whole ID numbers and will never be imported: it goes now.
            transaction.on_commit(lambda: _drop_file(batch.pk))
    batch.refresh_from_db()
    return done


def _drop_file(batch_id: int) -> None:
    item = ImportBatch.objects.filter(pk=batch_id).first()
    if item is not None and item.file:
        item.file.delete(save=False)
        ImportBatch.objects.filter(pk=batch_id).update(file="")


# A refused or failed batch keeps its file this long, for the user to map its columns or run
# it again; a cancelled one loses it at once.
DEAD_BATCH_FILE_DAYS = 7


def sweep_batch_files(*, now: Any = None) -> int:
    """Delete the stored files of batches that will never be imported: cancelled ones, and
    refused or failed ones older than DEAD_BATCH_FILE_DAYS (the rows stay, for the history).
    Returns how many files were deleted."""
    now = now or timezone.now()
    dead = ImportBatch.objects.exclude(file="").filter(
        Q(status=ImportBatch.Status.CANCELLED)
        | Q(
            status__in=[ImportBatch.Status.REFUSED, ImportBatch.Status.FAILED],
            created_at__lt=now - timedelta(days=DEAD_BATCH_FILE_DAYS),
        )
    )
    deleted = 0
    for pk in list(dead.values_list("pk", flat=True)):
        _drop_file(pk)
        deleted += 1
    return deleted


ROW_COUNTS = (
    "rows_total",
    "rows_created",
    "rows_updated",
    "rows_unchanged",
    "rows_rejected",
    "rows_warned",
    "rows_skipped",
)


def batch_remap(*, actor: Actor, batch: ImportBatch) -> bool:
    """Back from the preview to the column mapping (a column mapped wrongly, a partial list
    marked as the complete one), without uploading the file again: the batch is staged as
    uploaded, with the mapping and options chosen before, to be validated again; the counts
    and issues of the preview it leaves are dropped (the history does not show them as the
    batch's). False when it is no longer a preview (a commit claimed it first)."""
    with transaction.atomic():
        done = bool(
            ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.VALIDATED).update(
                status=ImportBatch.Status.UPLOADED,
                message="",
                preview={},
                validated_at=None,
                **dict.fromkeys(ROW_COUNTS, 0),
            )
        )
        if done:
            ImportIssue.objects.filter(batch=batch).delete()
            log_action(actor=actor, action="import.remapped", obj=batch)
    batch.refresh_from_db()
    return done


def batch_answer_villages(*, actor: Actor, batch: ImportBatch, answers: dict[str, str]) -> bool:
    """The answers for new village names that resemble a known one (the preview's
    questions): for each name's key, the known village's key (a typo: its rows go to that
    village) or '' (a new village). The preview is made again with them; False when it is
    no longer a preview."""
    questions = {q["key"]: q for q in (batch.preview or {}).get("village_questions", [])}
    given = {
        key: value
        for key, value in answers.items()
        if key in questions and value in {"", questions[key]["like_key"]}
    }
    if not batch_remap(actor=actor, batch=batch):
        return False
    options = dict(batch.options or {})
    options["villages"] = {**options.get("villages", {}), **given}
    ImportBatch.objects.filter(pk=batch.pk).update(options=options)
    batch.refresh_from_db()
    log_action(actor=actor, action="import.villages_answered", obj=batch, data={"answers": given})
    return batch_enqueue(batch=batch, run="validate", actor=actor)


def record_command_line_import(
    *,
    actor: Actor,
    source: str,
    path: Path,
    grant: ImportGrant,
    ctx: pipeline.ImportContext,
    outcome: pipeline.Outcome,
) -> ImportBatch:
    """The history's batch of a file imported by ``baoxue import``: the file stored, its
    checksum, the counts and every issue, as for one imported on the page (its error report
    can be downloaded again). Called in the commit's transaction (pipeline.run's
    on_committed): the batch is there exactly when the rows are."""
    with path.open("rb") as handle:
        checksum, size = _sha256(handle)
        now = timezone.now()
        table = outcome.table
        batch = _new_batch(
            actor=actor,
            source=source,
            grant=grant,
            filename=path.name,
            checksum=checksum,
            size=size,
            created_at=now,
            sheet_name=table.sheet_name[:100],
            header_row=table.header_row,
            headers=[pipeline.masked_cell(h) for h in table.headers],
            mapping=outcome.mapping,
            options={"complete_list": ctx.complete_list} if source == "enrollment" else {},
            status=ImportBatch.Status.COMMITTED,
            validated_at=now,
            committed_at=now,
            committed_by=actor,
        )
        with _stored_with(batch, handle):
            batch.preview = _preview(SOURCES[source], ctx, outcome)
            batch.save()  # _store_outcome's issues need its id
            _store_outcome(batch, outcome)
            batch.save()
            _log_committed(actor, batch, via="command line")
    return batch


def _log_committed(actor: Actor, batch: ImportBatch, **extra: str) -> None:
    log_action(
        actor=actor,
        action="import.committed",
        obj=batch,
        data={
            "source": batch.source,
            "created": batch.rows_created,
            "updated": batch.rows_updated,
            "unchanged": batch.rows_unchanged,
            "rejected": batch.rows_rejected,
            "checksum": batch.checksum,
            **extra,
        },
    )


def discard_unrecorded_file(batch: ImportBatch) -> None:
    """Delete the stored copy of a batch whose transaction rolled back after it was recorded
    (no such batch in the database): record_command_line_import stores the file before the
    commit ends."""
    if batch.file and not ImportBatch.objects.filter(pk=batch.pk).exists():
        batch.file.storage.delete(batch.file.name)


ORPHAN_GRACE = timedelta(days=1)


def sweep_orphan_files() -> int:
    """Delete stored import files that no batch names: left by a process killed between
    storing a file and committing its batch (the handlers above clean up every other
    failure). Only files older than ORPHAN_GRACE go, so that an import still running, whose
    batch is not committed yet, keeps its file. Returns how many were deleted."""
    from django.core.files.storage import default_storage

    now = timezone.now()
    named = set(ImportBatch.objects.exclude(file="").values_list("file", flat=True))
    deleted = 0
    folders = ["imports"]
    while folders:
        folder = folders.pop()
        try:
            subfolders, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        folders += [f"{folder}/{name}" for name in subfolders]
        for name in files:
            path = f"{folder}/{name}"
            if path in named or now - default_storage.get_modified_time(path) < ORPHAN_GRACE:
                continue
            default_storage.delete(path)
            deleted += 1
    return deleted


class Superseded(Exception):
    """The run no longer owns the batch (it was declared interrupted and run again)."""


def batch_commit(
    *, actor: Actor, batch: ImportBatch, claimed: bool = False, attempt: str = ""
) -> ImportBatch:
    """Write the batch in one transaction. Committing a batch twice is refused; committing the
    same file in a new batch changes nothing (every row plans as unchanged). `claimed`: the
    caller moved the batch to "committing" (batch_start, whose token is `attempt`)."""
    source = SOURCES[batch.source]
    if not claimed:
        attempt = batch_start(batch=batch, run="commit") or ""
        if not attempt:
            raise ValidationError(_("这个批次不在“待确认导入”状态，不能重复导入。"))
    owned = _owned(batch, attempt, ImportBatch.Status.COMMITTING)
    try:
        ctx = _context(batch, actor)

        def record(outcome: pipeline.Outcome) -> None:
            # In the commit's transaction: the batch is marked committed only by the run that
            # still owns it, and a run that does not rolls back everything it wrote.
            if not owned.update(attempt=""):
                raise Superseded
            batch.attempt = ""
            _store_outcome(batch, outcome)
            batch.preview = _preview(source, ctx, outcome)
            batch.status = ImportBatch.Status.COMMITTED
            batch.committed_at = timezone.now()
            batch.committed_by = person(actor)
            batch.save()
            _log_committed(actor, batch)

        with batch_path(batch) as path:
            pipeline.run(
                path,
                source,
                ctx,
                mapping=batch.mapping,
                commit=True,
                progress=_progress_writer(batch),
                on_committed=record,
            )
    except Superseded:
        pass  # rolled back; the batch is another run's
    except Exception as exc:
        # The transaction rolled back: nothing of the batch was written. Say so plainly.
        if not _record_failure(owned, exc, _("导入未完成，数据未作任何改动。原因：%(e)s")):
            raise
    batch.refresh_from_db()
    return batch
