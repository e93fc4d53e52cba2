"""Background tasks: validation and commit of an import batch.

Each run beats (core.progress.heartbeat) while it works, so that the batch page can tell a
run whose worker is gone from one that is slow (core.jobs.give_up_if_stopped); a run whose
token is no longer the batch's does nothing. A run speaks the language of the page that
started it: its issues and messages are stored as text, in that language.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django_tasks import task

from baoxue.accounts.models import User
from baoxue.core.progress import heartbeat
from baoxue.imports import services
from baoxue.imports.models import ImportBatch


@task()
def validate_batch(batch_id: int, actor_id: int, attempt: str = "", language: str = "") -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    if attempt and batch.attempt != attempt:
        return  # given back as interrupted, and run again since
    with (
        heartbeat(f"{batch.progress_key}:{attempt}"),  # batch.beat_key of this run
        translation.override(language or settings.LANGUAGE_CODE),
    ):
        services.batch_validate(actor=User.objects.get(pk=actor_id), batch=batch, attempt=attempt)


@task()
def commit_batch(batch_id: int, actor_id: int, attempt: str = "", language: str = "") -> None:
    batch = ImportBatch.objects.get(pk=batch_id)
    if attempt and batch.attempt != attempt:
        return
    with (
        heartbeat(f"{batch.progress_key}:{attempt}"),  # batch.beat_key of this run
        translation.override(language or settings.LANGUAGE_CODE),
    ):
        services.batch_commit(
            actor=User.objects.get(pk=actor_id), batch=batch, claimed=True, attempt=attempt
        )
