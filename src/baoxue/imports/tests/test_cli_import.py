"""`baoxue import` from the shell: a real instance in a subprocess, including being killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from baoxue.core.idnumbers import check_character
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, ROSTER_HEADER, write_xlsx

pytestmark = pytest.mark.slow


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BAOXUE_FIELD_KEY"}}
    env["DJANGO_SETTINGS_MODULE"] = "baoxue.settings"
    env["BAOXUE_DATA_DIR"] = str(data_dir)
    return env


def baoxue(*args: str, data_dir: Path, **kw):
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "baoxue.cli", *args],
        env=env_for(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    data_dir = tmp_path / "inst"
    result = baoxue(
        "init",
        "--data-dir",
        str(data_dir),
        "--township-code",
        "450225212",
        "--township-name",
        "培秀苗族乡",
        "--admin-password",
        "a-long-password-1",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr
    return data_dir


def children(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "baoxue.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM registry_child").fetchone()[0])


def batches(data_dir: Path) -> list[tuple]:
    """The import history: (status, filename, created, rejected, unchanged, issues, has file)."""
    with sqlite3.connect(data_dir / "baoxue.sqlite3") as db:
        return db.execute(
            "SELECT b.status, b.filename, b.rows_created, b.rows_rejected, b.rows_unchanged,"
            " (SELECT COUNT(*) FROM imports_importissue i WHERE i.batch_id = b.id),"
            " b.file != '' AND length(b.checksum) = 64"
            " FROM imports_importbatch b ORDER BY b.id"
        ).fetchall()


def unique_id(i: int) -> tuple[str, date]:
    """The i-th of many distinct valid ID numbers (different birth days, then sequences)."""
    birth = date(2011, 1, 1) + timedelta(days=i % 3000)
    first17 = f"450225{birth:%Y%m%d}{(i // 3000) * 2 + 1:03d}"
    return first17 + check_character(first17), birth


def roster_rows(n: int) -> list[list[object]]:
    rows: list[list[object]] = [ROSTER_HEADER]
    for i in range(n):
        number, birth = unique_id(i)
        rows.append(
            [
                f"吴{i}",
                "男",
                number,
                birth.isoformat(),
                "苗族",
                f"村{i % 12}",
                f"屯{i % 5}",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return rows


def test_dry_run_then_import_then_reimport(instance: Path, tmp_path: Path):
    rows = roster_rows(3)
    rows.append(["坏", "男", 4.5e17, "2015-01-01", "苗族", "村1", "", "", "", "", "", ""])
    path = write_xlsx(tmp_path / "roster.xlsx", rows)
    dry = baoxue("import", "roster", str(path), "--dry-run", data_dir=instance)
    assert dry.returncode == 0, dry.stderr
    assert "3 would be created" in dry.stdout and "1 rejected" in dry.stdout
    assert children(instance) == 0
    errors = tmp_path / "errors.xlsx"
    real = baoxue("import", "roster", str(path), "--errors", str(errors), data_dir=instance)
    assert real.returncode == 0, real.stderr
    assert "3 were created" in real.stdout
    assert "校验 validate [" in real.stderr  # the progress line
    assert errors.stat().st_size > 0
    # The problem list left the system with children's names in it: logged, as the page's.
    with sqlite3.connect(instance / "baoxue.sqlite3") as db:
        logged = db.execute(
            "SELECT COUNT(*) FROM core_auditevent WHERE action = 'import.errors_downloaded'"
        ).fetchone()[0]
    assert logged == 1
    assert children(instance) == 3
    # The import is in the history, as one made on the page is (the dry run is not).
    assert batches(instance) == [("committed", "roster.xlsx", 3, 1, 0, 1, 1)]
    assert "/imports/" in real.stdout
    again = baoxue("import", "roster", str(path), data_dir=instance)
    assert "0 were created, 0 updated, 3 unchanged" in again.stdout
    assert children(instance) == 3
    assert batches(instance)[1] == ("committed", "roster.xlsx", 0, 1, 3, 1, 1)


def test_an_account_that_may_not_import_is_told_so(instance: Path, tmp_path: Path):
    made = baoxue(
        "manage", "shell", "-c",
        "from baoxue.accounts.models import User; User.objects.create_user('nobody', password='x')",
        data_dir=instance,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    path = write_xlsx(tmp_path / "roster.xlsx", roster_rows(1))
    result = baoxue("import", "roster", str(path), "--user", "nobody", data_dir=instance)
    assert result.returncode == 2
    assert "不能导入" in result.stderr and "--user" in result.stderr
    assert "Traceback" not in result.stderr
    assert children(instance) == 0


def test_refused_file_exits_non_zero(instance: Path, tmp_path: Path):
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"%PDF-1.7\n...")
    result = baoxue("import", "roster", str(path), data_dir=instance)
    assert result.returncode == 1
    assert "PDF" in result.stderr


def import_and_kill_while_committing(instance: Path, source: str, path: Path) -> None:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "baoxue.cli", "import", source, str(path)],
        env=env_for(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 240
    while b"commit [" not in seen and time.monotonic() < deadline:
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"commit [" in seen, seen.decode(errors="replace")
    # Kill it once the commit's transaction has started writing pages (the WAL grows), before
    # it commits: the moment a power cut or a closed laptop lid would hurt most.
    wal = instance / "baoxue.sqlite3-wal"
    while process.poll() is None and not (wal.exists() and wal.stat().st_size > 0):
        time.sleep(0.005)
    assert process.poll() is None, "the import finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_killed_midway_leaves_nothing(instance: Path, tmp_path: Path):
    path = write_xlsx(tmp_path / "big.xlsx", roster_rows(20_000))
    import_and_kill_while_committing(instance, "roster", path)
    assert children(instance) == 0 and batches(instance) == []
    with sqlite3.connect(instance / "baoxue.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            db.execute("SELECT COUNT(*) FROM registry_region WHERE level='village'").fetchone()[0]
            == 0
        )
    # Nothing half-written stands in the way of running it again.
    rerun = baoxue("import", "roster", str(path), data_dir=instance)
    assert rerun.returncode == 0, rerun.stderr
    assert children(instance) == 20_000


def enrollment_rows(n: int) -> list[list[object]]:
    rows: list[list[object]] = [ENROLLMENT_HEADER]
    for i in range(n):
        number, birth = unique_id(i)
        rows.append(
            [f"韦{i}", "女", number, "G" + number, birth.isoformat(), "", "培秀中心小学",
             str(1 + i % 6), f"{1 + i % 3}班", "2023-09", "在读", "走读", f"村{i % 12}屯{i % 5}"]
        )  # fmt: skip
    return rows


def indexes(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "baoxue.sqlite3") as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_killed_while_a_first_load_has_dropped_its_indexes_leaves_them_all(
    instance: Path, tmp_path: Path
):
    # 25,000 new children into an empty registry: the commit drops the child, 学籍 and 学籍异动
    # indexes and builds them again at the end (core.bulk.indexes_deferred).
    before = indexes(instance)
    assert {"child_township_name_idx", "enrollment_class_idx"} <= before
    path = write_xlsx(tmp_path / "xueji.xlsx", enrollment_rows(25_000))
    import_and_kill_while_committing(instance, "enrollment", path)
    assert children(instance) == 0
    assert indexes(instance) == before
    with sqlite3.connect(instance / "baoxue.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rerun = baoxue("import", "enrollment", str(path), data_dir=instance)
    assert rerun.returncode == 0, rerun.stderr
    assert children(instance) == 25_000
    assert indexes(instance) == before
    with sqlite3.connect(instance / "baoxue.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        plan = " ".join(
            str(r)
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM registry_child WHERE township_id = 1 "
                "ORDER BY name, id LIMIT 20"
            )
        )
        assert "child_township_name_idx" in plan


def test_a_schools_own_export_goes_to_the_school_into_names(instance: Path, tmp_path: Path):
    made = baoxue(
        "manage", "shell", "-c",
        "from baoxue.registry.models import Region;"
        " from baoxue.registry.services import school_create;"
        " school_create(name='培秀中心小学', kind='primary', code='2145993101',"
        " region=Region.objects.get(level='township'))",
        data_dir=instance,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    rows: list[list[object]] = [["学生姓名", "学生性别", "学生身份证件号", "学生班级名称"]]
    for i in range(3):
        number, _birth = unique_id(i)
        rows.append([f"吴{i}", "男", number, "三年级(2)班"])
    path = write_xlsx(tmp_path / "own.xlsx", rows)
    without = baoxue("import", "enrollment", str(path), "--dry-run", data_dir=instance)
    assert "3 rejected" in without.stdout  # no school column, none named: said row by row
    done = baoxue("import", "enrollment", str(path), "--into", "2145993101", data_dir=instance)
    assert done.returncode == 0, done.stderr
    assert "3 were created" in done.stdout
    assert "年级推算 grades derived (no 年级 column): 3 by 班级名称" in done.stdout
    with sqlite3.connect(instance / "baoxue.sqlite3") as db:
        placed = db.execute(
            "SELECT s.code, e.grade FROM registry_enrollment e"
            " JOIN registry_school s ON s.id = e.school_id"
        ).fetchall()
    assert placed == [("2145993101", 3)] * 3


def test_a_refused_file_writes_what_it_saw_of_its_columns(instance: Path, tmp_path: Path):
    from python_calamine import CalamineWorkbook

    number, _birth = unique_id(1)
    path = write_xlsx(
        tmp_path / "odd.xlsx", [["学生姓名", "证号", "就读学段"], ["吴一", number, "小学"]]
    )
    report = tmp_path / "columns.xlsx"
    refused = baoxue("import", "enrollment", str(path), "--errors", str(report), data_dir=instance)
    assert refused.returncode == 1
    assert "文件中这些列没有识别：证号、就读学段" in refused.stderr
    sheet = CalamineWorkbook.from_path(str(report)).get_sheet_by_index(0).to_python()
    assert [row[1:] for row in sheet[1:4]] == [
        ["学生姓名", "姓名"],
        ["证号", "未识别"],
        ["就读学段", "未识别"],
    ]
    assert ["", "缺少必填项：年级"] in [row[1:] for row in sheet]
