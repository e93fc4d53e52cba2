"""Background task: a 辍学台账 export."""

from __future__ import annotations

from django_tasks import task

from baoxue.cases import exports


@task()
def export_ledger(export_id: int) -> None:
    exports.export_run(export_id)
