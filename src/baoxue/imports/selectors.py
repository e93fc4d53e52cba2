"""Reads of imports: every one starts from `ImportBatch.objects.visible_to(user)`."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from baoxue.imports import services
from baoxue.imports.models import ImportBatch
from baoxue.imports.registry import SOURCES
from baoxue.registry.models import School


def access_batch(user: Any, public_id: str) -> ImportBatch:
    try:
        uid = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    batch = ImportBatch.objects.visible_to(user).filter(public_id=uid).first()
    if batch is None:
        raise Http404
    return batch


def access_importable_batch(user: Any, public_id: str) -> ImportBatch:
    """A batch the user may also act on (not only read): 404 otherwise, like a missing one."""
    batch = access_batch(user, public_id)
    try:
        services.grant_for_batch(user, batch)
    except PermissionDenied:
        raise Http404 from None
    return batch


def batch_history(user: Any, *, source: str = "", status: str = "") -> QuerySet[ImportBatch]:
    """The user's batches, newest first, by kind of list and status (a township keeps years of
    them; each can be opened and its error report downloaded again)."""
    listed = ImportBatch.objects.visible_to(user)
    if source in SOURCES:
        listed = listed.filter(source=source)
    if status in ImportBatch.Status.values:
        listed = listed.filter(status=status)
    return listed.select_related("created_by", "township", "school").order_by("-created_at", "-id")


def same_file_committed(user: Any, batch: ImportBatch) -> ImportBatch | None:
    """The same file (by its checksum) imported before: said before it is imported again."""
    return (
        ImportBatch.objects.visible_to(user)
        .filter(source=batch.source, checksum=batch.checksum, status=ImportBatch.Status.COMMITTED)
        .exclude(pk=batch.pk)
        .order_by("-committed_at")
        .first()
    )


def township_schools(batch: ImportBatch) -> list[tuple[str, str]]:
    """The batch's township's schools, for a 学籍 file without a school column."""
    if batch.source != "enrollment" or batch.school_id is not None or batch.township_id is None:
        return []
    return [
        (str(pk), f"{name}（{code}）" if code else name)
        for pk, name, code in School.objects.filter(
            township_id=batch.township_id, is_outside_area=False
        )
        .order_by("name")
        .values_list("pk", "name", "code")
    ]
