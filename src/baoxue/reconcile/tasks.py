"""Background task: a reconciliation run (it beats while it works: services.run_execute)."""

from __future__ import annotations

from django_tasks import task

from baoxue.reconcile import services
from baoxue.reconcile.models import ReconciliationRun


@task()
def run_reconciliation(run_id: int) -> None:
    services.run_execute(ReconciliationRun.objects.get(pk=run_id))
