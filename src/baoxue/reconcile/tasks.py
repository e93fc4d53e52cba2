"""Background task: a reconciliation run. It beats while it works (core.progress), so that a
run whose worker is gone is told from a long one (services.run_given_up)."""

from __future__ import annotations

from django_tasks import task

from baoxue.core.progress import heartbeat
from baoxue.reconcile import services
from baoxue.reconcile.models import ReconciliationRun


@task()
def run_reconciliation(run_id: int) -> None:
    run = ReconciliationRun.objects.get(pk=run_id)
    with heartbeat(services.progress_key(run)):
        services.run_execute(run)
