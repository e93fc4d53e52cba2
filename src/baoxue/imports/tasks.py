"""Background tasks: validation and commit of an import batch."""

from __future__ import annotations

from django_tasks import task

from baoxue.accounts.models import User
from baoxue.imports import services
from baoxue.imports.models import ImportBatch


@task()
def validate_batch(batch_id: int, actor_id: int) -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    services.batch_validate(actor=User.objects.get(pk=actor_id), batch=batch)


@task()
def commit_batch(batch_id: int, actor_id: int) -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    services.batch_commit(actor=User.objects.get(pk=actor_id), batch=batch, claimed=True)
