"""`baoxue backup` and `baoxue restore` (core.backup) on SQLite, end to end in subprocesses with
their own data directories: a backup restored into an empty instance reads its ID numbers, a
wrong key is refused, and the restore migrates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SETUP = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baoxue.settings")
django.setup()
"""

MAKE = (
    SETUP
    + """
from datetime import date
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from baoxue.registry import services
county = services.region_create(name="融水县", level="county", code="450225000000")
town = services.region_create(name="培秀乡", level="township", parent=county, code="450225212000")
village = services.region_create(name="乌岭村", level="village", parent=town, code="450225212001")
services.child_create(actor=None, name="吴一", village=village, birth_date=date(2016, 5, 2),
                      id_number="450225201605020011")
from baoxue.core.backup import backup
print(backup(__import__("pathlib").Path(os.environ["OUT"]), say=lambda _: None)["counts"])
"""
)

RESTORE = (
    SETUP
    + """
from baoxue.core.backup import restore, BackupError
from pathlib import Path
try:
    key = Path(os.environ["KEY"]) if os.environ.get("KEY") else None
    done = restore(Path(os.environ["OUT"]), key=key, say=lambda _: None)
except BackupError as exc:
    print("REFUSED", exc)
    raise SystemExit(3)
from baoxue.registry.models import Child
print(done["checked"], Child.objects.get().id_number)
"""
)


def _run(script: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BAOXUE_TESTING", "BAOXUE_FIELD_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    environ.update({"BAOXUE_DATA_DIR": str(data_dir), **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=300
    )


def test_a_backup_restores_into_an_empty_instance_and_reads_its_numbers(tmp_path):
    out = tmp_path / "backup-1"
    made = _run(MAKE, tmp_path / "old", OUT=str(out))
    assert made.returncode == 0, made.stderr
    assert (out / "database.sqlite3").exists() and (out / "files.tar").exists()
    key = out.with_name(out.name + ".field.key")
    assert key.exists() and oct(key.stat().st_mode)[-3:] == "600"
    # The key is not in the backup directory itself: kept apart, by design.
    assert not any(p.name.endswith(".key") for p in out.iterdir())
    restored = _run(RESTORE, tmp_path / "new", OUT=str(out))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.split() == ["1", "450225201605020011"]


def test_a_restore_with_another_key_is_refused(tmp_path):
    out = tmp_path / "backup-2"
    assert _run(MAKE, tmp_path / "old", OUT=str(out)).returncode == 0
    wrong = tmp_path / "wrong.key"
    wrong.write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    refused = _run(RESTORE, tmp_path / "new", OUT=str(out), KEY=str(wrong))
    assert refused.returncode == 3 and "不是这份备份的密钥" in refused.stdout
