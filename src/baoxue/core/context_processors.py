"""Template context for every page: whether the background-task worker is down."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django_tasks import task_backends
from django_tasks.backends.immediate import ImmediateBackend

from baoxue.core.progress import worker_alive

# The pages whose work waits for the worker: imports, 比对 and the exports.
_WORKER_APPS = frozenset({"imports", "reconcile"})


def worker_status(request: HttpRequest) -> dict[str, Any]:
    """`worker_down`: True on the pages of work the worker runs when no worker has beaten
    lately (core.tasks_worker), so that a user waiting on an import knows why it waits."""
    match = request.resolver_match
    user = getattr(request, "user", None)  # not on an error page raised before the middleware
    if match is None or user is None or not user.is_authenticated:
        return {"worker_down": False}
    if match.app_name not in _WORKER_APPS and "export" not in (match.url_name or ""):
        return {"worker_down": False}
    if isinstance(task_backends["default"], ImmediateBackend):
        return {"worker_down": False}  # tasks run in the request: there is no worker
    return {"worker_down": not worker_alive()}
