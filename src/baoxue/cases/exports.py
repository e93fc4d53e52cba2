"""The 辍学台账 as a background export: created by the page (or the shell), written by the task
worker with a progress bar, downloaded once done. The cases are those the requesting user sees
with the filters they had, read when the export runs."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from baoxue.accounts.actors import Actor, required_person
from baoxue.accounts.models import User
from baoxue.cases import ledger, selectors, tasks  # tasks imports this one: used when called
from baoxue.cases.models import LedgerExport
from baoxue.core import jobs
from baoxue.core.services import log_action

KEEP_DAYS = 7


def export_create(*, actor: Actor, query: str) -> LedgerExport:
    """Queue an export of the case list the user sees with `query` (the list's filters)."""
    user = required_person(actor)
    _forget_old(user)
    with transaction.atomic():
        item = LedgerExport.objects.create(requested_by=user, query=query[:500])
        log_action(actor=actor, action="case.ledger_requested", obj=item, data={"query": query})
        jobs.enqueue_on_commit(tasks.export_ledger, item.pk)
    return item


def _forget_old(actor: User) -> None:
    """A user's exports older than KEEP_DAYS go, files first: a ledger holds children's data
    and should not outlive its use in storage."""
    sweep_exports(LedgerExport.objects.filter(requested_by=actor))


def sweep_exports(
    exports: QuerySet[LedgerExport] | None = None, *, now: datetime | None = None
) -> int:
    """Every export older than KEEP_DAYS, its file first (the periodic sweep of `serve` and
    `baoxue sweep`, not only a user's next export). Returns how many went."""
    old = (exports if exports is not None else LedgerExport.objects.all()).filter(
        created_at__lt=(now or timezone.now()) - timedelta(days=KEEP_DAYS)
    )
    items = list(old)
    for item in items:
        if item.file:
            item.file.delete(save=False)
    LedgerExport.objects.filter(pk__in=[i.pk for i in items]).delete()
    return len(items)


def export_run(export_id: int) -> LedgerExport:
    item = LedgerExport.objects.select_related("requested_by").get(pk=export_id)
    if item.status != LedgerExport.Status.QUEUED:
        return item  # a task delivered twice: the first one does the work
    LedgerExport.objects.filter(pk=item.pk).update(status=LedgerExport.Status.RUNNING)
    user = item.requested_by
    cases = selectors.case_list(user, selectors.filters_from(dict(parse_qsl(item.query))))
    total = cases.count()
    item.report("export", 0, total)
    with (
        item.beating(),  # alive, to the page waiting for it (core.jobs.give_up_if_stopped)
        tempfile.TemporaryDirectory(prefix="baoxue-export-") as folder,
    ):
        path = Path(folder) / "ledger.xlsx"
        try:
            ledger.write(
                user,
                cases,
                path=path,
                progress=lambda done: item.report("export", done, total),
            )
            with path.open("rb") as handle:
                item.file.save(f"{item.public_id.hex}.xlsx", File(handle), save=False)
        except Exception as exc:
            LedgerExport.objects.filter(pk=item.pk).update(
                status=LedgerExport.Status.FAILED, error=str(exc)[:300], finished_at=timezone.now()
            )
            raise
    LedgerExport.objects.filter(pk=item.pk).update(
        status=LedgerExport.Status.DONE, rows=total, file=item.file.name, finished_at=timezone.now()
    )
    item.report("export", total, total)
    item.refresh_from_db()
    return item
