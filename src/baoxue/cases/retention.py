"""How long children's data is kept after compulsory education (issue 22 §4). In cases (above
the registry): a child with an open case is kept, and the files attached to its cases go.

A child who aged out of compulsory education (past BAOXUE_COMPULSORY_MAX_AGE on the cut-off
date) BAOXUE_ARCHIVE_AFTER_YEARS ago, and has no open case, no longer needs to be found by
anyone: the sweep (`serve`, hourly, and `baoxue sweep`) archives the record. Archiving wipes
what identifies the child — the name, ID and other numbers (encrypted, hashed, masked), the
address and notes, the day and month of birth (the year stays, for the statistics of past
years), the guardians, the 学籍号 of the enrollments, and the files attached to the child's
cases — and keeps the record and its cases, so the counts of past years and the case
histories still add up. Audited, as counts.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from baoxue.cases.models import Attachment, Case
from baoxue.core import policy
from baoxue.core.services import log_action
from baoxue.registry.models import Child, Enrollment, Guardian

ARCHIVED_NAME = "（已归档）"
CHUNK = 500


def archive_born_by(today: date | None = None) -> date | None:
    """The latest birth date of a child to archive now (None when archiving is off)."""
    years = settings.BAOXUE_ARCHIVE_AFTER_YEARS
    if years <= 0:
        return None
    cutoff = policy.cutoff_date(today)
    # Past compulsory age on a cut-off `years` ago: at least MAX_AGE + 1 then.
    return policy._years_before(cutoff, settings.BAOXUE_COMPULSORY_MAX_AGE + 1 + years)


def archive_aged_out(*, today: date | None = None) -> int:
    """Archive every record that aged out long enough ago and has no open case. Returns how
    many were archived."""
    born_by = archive_born_by(today)
    if born_by is None:
        return 0
    open_cases = Case.objects.open().values("child_id")
    ids = list(
        Child.records.filter(archived_at=None, birth_date__lte=born_by)
        .exclude(pk__in=open_cases)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        files = list(
            Attachment.objects.filter(case__child_id__in=chunk)
            .exclude(file="")
            .values_list("pk", "file")
        )
        with transaction.atomic():
            Guardian.objects.filter(child_id__in=chunk).delete()
            Enrollment.objects.filter(child_id__in=chunk).update(
                student_number_enc="", student_number_hash="", student_number_masked=""
            )
            Attachment.objects.filter(pk__in=[pk for pk, _f in files]).delete()
            children = list(Child.records.filter(pk__in=chunk).only("pk", "birth_date"))
            for child in children:
                if child.birth_date is not None:
                    child.birth_date = child.birth_date.replace(month=1, day=1)
            Child.records.bulk_update(children, ["birth_date"], batch_size=CHUNK)
            Child.records.filter(pk__in=chunk).update(
                name=ARCHIVED_NAME,
                name_pinyin="",
                name_initials="",
                id_number_enc="",
                id_number_hash="",
                id_number_masked="",
                id_suffix="",
                id_number_original_enc="",
                id_claim_hash="",
                person_number="",
                document_number_enc="",
                document_number_masked="",
                disability_card_enc="",
                address="",
                notes="",
                archived_at=now,
            )
        # The files after the rows: a failed transaction keeps both.
        for _pk, name in files:
            default_storage.delete(name)
    if ids:
        log_action(
            actor=None,
            action="child.archived",
            data={"children": len(ids), "born_by": born_by.isoformat()},
        )
    return len(ids)
