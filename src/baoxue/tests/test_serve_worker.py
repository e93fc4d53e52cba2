"""`baoxue serve` keeps its task worker running: a worker killed is started again, and why it
stopped is logged; the import, 比对 and export pages say when no worker is running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from baoxue.core.progress import WORKER_KEY, WORKER_STALE_SECONDS, heartbeat, worker_alive

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture
def no_worker_beat():
    cache.delete(f"{WORKER_KEY}:alive")
    yield
    cache.delete(f"{WORKER_KEY}:alive")


@override_settings(TASKS=DATABASE_TASKS)
def test_the_import_page_says_when_no_worker_runs(login, world, no_worker_beat):
    client = login("office")
    page = client.get(reverse("imports:batch_list"))
    assert 'data-testid="worker-down"' in page.content.decode()
    assert "后台处理程序现在没有运行" in page.content.decode()
    # Pages of other work say nothing of it.
    assert 'data-testid="worker-down"' not in client.get(reverse("cases:list")).content.decode()


@override_settings(TASKS=DATABASE_TASKS)
def test_no_banner_while_the_worker_beats(login, world, no_worker_beat):
    client = login("office")
    with heartbeat(WORKER_KEY, every=60):
        assert worker_alive()
        page = client.get(reverse("reconcile:run_list"))
    assert 'data-testid="worker-down"' not in page.content.decode()


def test_a_beat_goes_stale(no_worker_beat):
    cache.set(f"{WORKER_KEY}:alive", time.time() - WORKER_STALE_SECONDS - 1, 3600)
    assert not worker_alive()


def test_no_banner_where_tasks_need_no_worker(login, world, no_worker_beat):
    # The test settings run tasks in the request (ImmediateBackend): there is no worker.
    page = login("office").get(reverse("imports:batch_list"))
    assert 'data-testid="worker-down"' not in page.content.decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(x) for x in text)
    return found


def _worker_pid(serve_pid: int, log: Path, not_pid: int | None = None) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for pid in _children(serve_pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"baoxue.core.tasks_worker" in command and pid != not_pid:
                return pid
        time.sleep(0.2)
    pytest.fail("no task worker under serve:\n" + log.read_text())


@pytest.mark.slow
def test_serve_starts_a_killed_worker_again_and_says_why(tmp_path):
    data_dir = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BAOXUE_TESTING", "BAOXUE_FIELD_KEY", "BAOXUE_DATA_DIR"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "baoxue.settings"
    log = tmp_path / "serve.log"
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "baoxue.cli",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # serving: its Ctrl-C handler is in place
            assert process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        first = _worker_pid(process.pid, log)
        os.kill(first, signal.SIGKILL)
        second = _worker_pid(process.pid, log, not_pid=first)
        assert second != first
        text = log.read_text()
        assert f"task worker pid {first} exited: signal SIGKILL" in text
        assert "后台任务进程已退出（signal SIGKILL），1 秒后重新启动" in text
        assert process.poll() is None  # the web server went on
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("serve did not stop:\n" + log.read_text())
    assert process.returncode == 0, log.read_text()
