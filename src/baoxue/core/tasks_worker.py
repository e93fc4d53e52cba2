"""The background-task worker: django_tasks' db_worker, beating while its process lives.

`baoxue serve` runs it beside the web server and starts it again when it exits; `python -m
baoxue.core.tasks_worker` runs it alone (a server of its own). The beat (core.progress,
WORKER_KEY) is what pages read to say that no worker is running.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baoxue.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from baoxue.core.progress import WORKER_KEY, heartbeat

    with heartbeat(WORKER_KEY):
        call_command("db_worker", *(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
