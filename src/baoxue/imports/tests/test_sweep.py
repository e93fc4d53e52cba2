"""What children's data must not outlive (issue 22): a cancelled import's file goes at once;
refused and failed ones after seven days; ledger exports after theirs — by the sweep that
`serve` runs every hour and `baoxue sweep` runs from cron."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from baoxue.cases.exports import sweep_exports
from baoxue.cases.models import LedgerExport
from baoxue.cli import _sweep
from baoxue.core.models import AuditEvent
from baoxue.imports.models import ImportBatch
from baoxue.imports.services import batch_cancel, batch_upload, sweep_batch_files


def _batch(persona, world):
    return batch_upload(
        actor=persona("office"),
        source="roster",
        handle=io.BytesIO("姓名,村\n吴一,乌岭村\n".encode()),
        filename="花名册.csv",
        township=world.township,
    )


def test_a_cancelled_import_loses_its_file_at_once(
    world, persona, django_capture_on_commit_callbacks
):
    batch = _batch(persona, world)
    name = batch.file.name
    storage = batch.file.storage
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_cancel(actor=persona("office"), batch=batch)
    batch.refresh_from_db()
    assert not batch.file and not storage.exists(name)
    assert batch.status == ImportBatch.Status.CANCELLED  # the row stays, for the history


def test_the_sweep_deletes_old_refused_files_and_old_exports(world, persona):
    refused = _batch(persona, world)
    fresh = _batch(persona, world)
    ImportBatch.objects.filter(pk__in=[refused.pk, fresh.pk]).update(
        status=ImportBatch.Status.REFUSED
    )
    ImportBatch.objects.filter(pk=refused.pk).update(created_at=timezone.now() - timedelta(days=8))
    old = LedgerExport.objects.create(requested_by=persona("office"), query="")
    old.file.save("old.xlsx", ContentFile(b"x"), save=True)
    LedgerExport.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    new = LedgerExport.objects.create(requested_by=persona("leader"), query="")
    stored = old.file.name
    storage = old.file.storage
    done = _sweep()
    assert done == {
        "exports": 1,
        "import_files": 1,
        "encrypted_files": 0,
        "archived_children": 0,
    }
    refused.refresh_from_db()
    fresh.refresh_from_db()
    assert not refused.file and fresh.file  # a refused file is kept a week, to be mapped
    assert not storage.exists(stored)
    assert list(LedgerExport.objects.values_list("pk", flat=True)) == [new.pk]
    assert AuditEvent.objects.filter(action="instance.swept").exists()
    assert sweep_exports() == 0 and sweep_batch_files() == 0  # nothing left to do
