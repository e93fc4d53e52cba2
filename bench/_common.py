"""What every benchmark script shares: the progress log and measuring a commit's source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def log(message: str) -> None:
    # UTC: django.setup() moves the measuring processes to settings.TIME_ZONE.
    print(f"[{datetime.now(UTC):%H:%M:%S}Z] {message}", file=sys.stderr, flush=True)


@contextmanager
def source_tree(commit: str | None) -> Iterator[dict[str, str]]:
    """Environment for the measuring processes: with `commit`, its src/ extracted into a
    temporary folder and put first on PYTHONPATH (ahead of the editable install of the working
    tree that others may be editing)."""
    if not commit:
        yield {}
        return
    root = Path(__file__).resolve().parent.parent
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="baoxue-bench-src-"))
    try:
        archive = subprocess.run(
            ["git", "archive", sha, "src"], cwd=root, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        path = os.pathsep.join(p for p in (str(folder / "src"), os.environ.get("PYTHONPATH")) if p)
        yield {"PYTHONPATH": path, "BAOXUE_BENCH_SOURCE": f"{sha[:7]} (git archive)"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def source_version(extra_env: dict[str, str] | None = None) -> str:
    """The commit measured: the one source_tree() extracted, else HEAD and whether src/ had
    uncommitted changes."""
    given = (extra_env or {}).get("BAOXUE_BENCH_SOURCE") or os.environ.get("BAOXUE_BENCH_SOURCE")
    if given:
        return given
    root = Path(__file__).resolve().parent.parent

    def git(*words: str) -> str:
        run = subprocess.run(["git", *words], cwd=root, capture_output=True, text=True)
        return run.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "src") else ""
    return commit + dirty


def pg_drop_database(server: str, name: str) -> None:
    """DROP DATABASE name on server (a postgresql:// URL without the database), if it exists."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def pg_create_database(server: str, name: str) -> None:
    """A new, empty database name on server (dropped first if it exists)."""
    import psycopg

    pg_drop_database(server, name)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
