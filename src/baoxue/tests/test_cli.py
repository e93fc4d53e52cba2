"""The `baoxue` command as a user runs it: a subprocess on a fresh SQLite data dir."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from baoxue.core import crypto


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BAOXUE_DATA_DIR"}}
    env["DJANGO_SETTINGS_MODULE"] = "baoxue.settings"
    env.pop("BAOXUE_FIELD_KEY", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "baoxue.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_dir.parent,
    )


@pytest.mark.slow
def test_init_creates_an_instance_once(tmp_path):
    data_dir = tmp_path / "instance"
    first = run(
        "init",
        "--data-dir",
        str(data_dir),
        "--township-code",
        "450225212",
        "--township-name",
        "培秀苗族乡",
        "--county-name",
        "融水苗族自治县",
        data_dir=data_dir,
    )
    assert first.returncode == 0, first.stderr
    assert "admin account: admin  password: " in first.stdout
    assert (data_dir / "keys" / "field.key").stat().st_mode & 0o777 == 0o600
    db = sqlite3.connect(data_dir / "baoxue.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    regions = db.execute("SELECT level, name, code FROM registry_region ORDER BY id").fetchall()
    assert regions == [
        ("county", "融水苗族自治县", "450225000000"),
        ("township", "培秀苗族乡", "450225212000"),
    ]
    again = run(
        "init",
        "--data-dir",
        str(data_dir),
        "--township-code",
        "450225212",
        "--township-name",
        "培秀苗族乡",
        data_dir=data_dir,
    )
    assert again.returncode == 1
    assert "already holds township" in again.stderr


def test_init_refuses_a_bad_code(tmp_path):
    result = run(
        "init",
        "--data-dir",
        str(tmp_path / "x"),
        "--township-code",
        "4502",
        "--township-name",
        "乡",
        data_dir=tmp_path / "x",
    )
    assert result.returncode == 2
    assert "9 or 12 digits" in result.stderr


def test_values_under_another_key_are_detected(db):
    ours = crypto.encrypt("450225201605020011")
    assert crypto.check_key_matches([ours, ""]) is None
    foreign = "1:0badc0de:" + ours.split(":", 2)[2]
    message = crypto.check_key_matches([ours, foreign])
    assert message is not None and "0badc0de" in message and "BAOXUE_FIELD_KEY" in message


@pytest.mark.slow
def test_a_command_on_a_data_dir_never_set_up_says_so(tmp_path):
    """Not a traceback about a missing table: what to run first."""
    data_dir = tmp_path / "instance"
    roster = tmp_path / "roster.csv"
    roster.write_text("姓名,村\n吴一,乌岭村\n", encoding="utf-8")
    result = run("import", "roster", str(roster), "--data-dir", str(data_dir), data_dir=data_dir)
    assert result.returncode == 2
    assert "还没有建立" in result.stderr and "baoxue init" in result.stderr
    assert "Traceback" not in result.stderr
