"""Fixtures of the browser tests: `baoxue serve --demo` in a subprocess, one per module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

# The demo's password, in a throwaway data dir.
PASSWORD = "demo-pass-2025"
# Chromium's switches for a quiet, sandbox-free run in CI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("demo-data")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BAOXUE_TESTING", "BAOXUE_FIELD_KEY", "BAOXUE_DATA_DIR"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "baoxue.settings"
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "baoxue.cli",
            "serve",
            "--demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--demo-password",
            PASSWORD,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("baoxue serve exited:\n" + (data_dir / "serve.log").read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("baoxue serve did not start:\n" + (data_dir / "serve.log").read_text())
    yield url
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("baoxue serve did not stop on Ctrl-C")
    output = (data_dir / "serve.log").read_text()
    assert process.returncode == 0, output
    assert "village_a" in output and PASSWORD in output  # the demo accounts were printed
