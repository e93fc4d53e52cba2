"""Import speed: a 100,000-row 学籍 xlsx into an empty registry, against calamine and import-export.

What it measures (issue 3)
    The script writes a 学籍 export (xlsxwriter, constant_memory) with the national
    system's columns, i.e. the labels of EnrollmentSource.fields (姓名, 身份证件号,
    学籍号, …, 监护人联系电话), a title row above the header and --rows made-up
    students (demo.names pickers, valid ID numbers, 学籍号 = 'G' + ID, --schools
    schools with 10-digit codes, the villages and 屯 of demo.names.VILLAGES; every
    cell written as a string). Then, for each database backend:

      1. python-calamine alone reads the file: open the workbook, iterate every row of the sheet
         (iter_rows, and to_python), best of 3. The faster of the two is "read". The read is
         measured next to each import it judges: just before and just after import #1, and
         just before each import #2 (this machine's speed drifts by a third within a run, so
         a read from the start of the run would judge a later import by another speed). The
         ratio of an import is to the best of its neighbouring reads; the report gives them
         all.
      2. import #1: ImportContext + pipeline.run(path, EnrollmentSource, ctx, commit=True) into
         the empty registry (read, validate, plan, write children, their guardians, enrollments
         and their events). Target: at most 3 × read; peak RSS < 600 MB.
      3. import #2: the same file again, three times, each in a fresh process (none changes
         anything, so each is a second import); the fastest counts, as the read counts its
         fastest of three. Each must plan every row as unchanged and change no row of the
         registry. Target: at most 1.5 × read; peak RSS (the largest of the three) < 600 MB.
      3b. import #3: a newer export of the same students with every class renamed (written
         from the first file, beside it): every row is an update, as in a new school year's
         file. Each must plan every row as an update and add or remove no row. No target:
         shown to keep the update path honest (Django's bulk_update took minutes here).
      3c. the 户籍 roster of the same children (written beside the file: name, ID number,
         village, 屯, household number and head, guardian): once after the 学籍 (it matches
         every child and places each in a household) and once into an empty copy of the
         registry (every child new, with its household and guardian). No target.
      4. django-import-export 4 on the same rows: a ModelResource for registry.Child that maps
         the 学籍 columns onto the child (name, ID number → the same derived columns as
         build_child, sex, birth date, ethnicity, village, 屯, school, grade, class, flags),
         matching existing children on the ID hash (import_id_fields; the lookup repeats the
         partial index's condition so that SQLite can use the index), with foreign keys looked
         up by ForeignKeyWidget; import_data(dry_run=False, use_transactions=True) into an
         empty copy of the registry. Two configurations: "default" (the resource's defaults:
         one save() and savepoint per row, diffs kept) and "bulk" (use_bulk, batch_size 1000,
         skip_diff: import-export's documented fast path). It writes only Child rows, less
         than our import writes, so the comparison flatters import-export. The Dataset is built
         from the rows calamine read (tablib reads xlsx through openpyxl, which is not
         installed); only import_data is timed. Each configuration first runs on --ie-rows
         rows; when that projects to more than --ie-max-seconds for all rows, the time for
         all rows is extrapolated linearly (labelled "extrapolated"), otherwise it is run on
         all rows. Target: import-export (default) at least 20 × the time of import #1.

    --layout national (issue 20) imports the same students in the national template's 71
    columns instead (NATIONAL_HEADERS: no 学校名称, 年级 or 学籍号; the guardian among the family
    members; about 3× the 22-column file's read time); --layout both runs the 22-column file,
    then the national one, and prints each import's multiple of its own file's read side by
    side (target: the national one no larger). The newer export and the rosters (3b, 3c) run
    with the 22-column file only.

    Every measure runs in a fresh subprocess, so that its peak RSS (getrusage ru_maxrss) is its
    own; times are perf_counter around the measured call only (not interpreter start or
    django.setup). Before timing, an import process warms the lazily loaded helpers (pinyin
    dictionary, ID-number regions, the AES key) as a long-running task worker would have.

How the database is prepared (not timed)
    migrate; then the county, the township, its twelve villages with their 屯, the schools
    and a township_office user, so that the import creates no places (checked: the number of
    regions and schools must not change). An empty copy of that database is kept for the
    import-export runs (PostgreSQL: CREATE DATABASE … TEMPLATE; SQLite: the backup API).

How to run
    .venv/bin/python bench/import_speed.py --rows 5000                   # smoke run, both
    .venv/bin/python bench/import_speed.py --backend both                # the issue's 100,000
    .venv/bin/python bench/import_speed.py --backend sqlite --ie none --xlsx /tmp/xueji.xlsx
    .venv/bin/python bench/import_speed.py --rows 20000 --ie none --profile /tmp/prof
    .venv/bin/python bench/import_speed.py --ie none --layout both        # issue 20's figures
    PY_SPY=/tmp/spy/bin/py-spy .venv/bin/python bench/import_speed.py --ie none --spy /tmp/spied

    --xlsx keeps the generated file at that path and reuses it if it exists (same --rows,
    --schools and --seed give the same file). --profile runs the two imports under cProfile
    and writes <backend>-import1.prof / -import2.prof there (times are then inflated; use it
    to see where time goes, not for the targets). --commit benchmarks a commit's src/ rather
    than the working tree that others may be editing. A full run (100,000 rows, both
    backends, import-export both ways) takes about 30 minutes on two cores.

    SQLite uses a fresh data dir in a temporary folder; PostgreSQL uses the database
    baoxue_bench_import (and baoxue_bench_import_empty, baoxue_bench_import_ie) on
    127.0.0.1:5432 as user postgres, dropped and created by the script. All are removed
    afterwards unless --keep is given. Progress goes to stderr; the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from _common import log, source_tree, source_version  # bench/ is on sys.path when a script runs

# A fixed field key and secret for the run, so that the subprocesses and any rerun with --keep
# agree; they protect nothing but made-up data.
FIELD_KEY = "YmFveHVlLWJlbmNoLWltcG9ydC1zcGVlZC1rZXkhISE="
SECRET_KEY = "baoxue-bench-import-speed-" + "x" * 40
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "baoxue_bench_import"
PG_EMPTY = "baoxue_bench_import_empty"  # the prepared, empty registry (template)
PG_IE = "baoxue_bench_import_ie"  # a copy of it for each import-export run
SEED = 2025

READ_TARGET = 3.0  # import #1 at most this many times the calamine read
SECOND_TARGET = 1.5  # import #2 at most this many times the calamine read
IE_TARGET = 20.0  # django-import-export (default) at least this many times import #1
RSS_TARGET_MB = 600.0

# The 学籍 export's columns, in the order of EnrollmentSource.fields (checked in setup).
HEADERS = [
    "姓名",
    "身份证件号",
    "学籍号",
    "性别",
    "出生日期",
    "民族",
    "学校标识码",
    "学校名称",
    "年级",
    "班级",
    "入学年月",
    "学生当前状态",
    "是否住校",
    "村",
    "组/屯",
    "户口所在地",
    "是否留守儿童",
    "是否残疾人",
    "是否孤儿",
    "是否进城务工人员随迁子女",
    "监护人姓名",
    "监护人联系电话",
]
TITLE = "全国中小学生学籍信息管理系统 学生基础信息导出"
# --layout national: the national template's 学生基本信息表 (docs/research/layouts.md, 1b), in its
# column order: no 学校名称 (the school by its 学校标识码), no 年级 (from the 入学年月 and the
# school's first grade), no 学籍号, 班号 for the class, 现住址 for the village and 屯, the guardian
# among the family members (成员1 … 成员2).
NATIONAL_HEADERS = [
    "学校标识码", "姓名", "性别", "出生日期", "出生地行政区划代码", "籍贯", "民族", "国籍/地区",
    "身份证件类型", "港澳台侨外", "健康状况", "政治面貌", "身份证件号", "户口性质",
    "户口所在地行政区划", "班号", "入学年月", "入学方式", "就读方式", "现住址", "通信地址",
    "家庭地址", "联系电话", "邮政编码", "是否独生子女", "是否受过学前教育", "是否留守儿童",
    "是否需要申请资助", "是否享受一补", "是否孤儿", "是否烈士或优抚子女", "上下学距离",
    "上下学方式", "是否需要乘坐校车", "曾用名", "身份证件有效期", "血型", "特长", "学籍辅号",
    "班内学号", "学生来源", "电子信箱", "主页地址", "残疾类型", "是否由政府购买学位", "随班就读",
    "成员1姓名", "成员1关系", "成员1关系说明", "成员1现住址", "成员1户口所在地行政区划",
    "成员1联系电话", "成员1是否监护人", "成员1身份证件类型", "成员1身份证件号", "成员1民族",
    "成员1工作单位", "成员1职务", "成员2姓名", "成员2关系", "成员2关系说明", "成员2现住址",
    "成员2户口所在地行政区划", "成员2联系电话", "成员2是否监护人", "成员2身份证件类型",
    "成员2身份证件号", "成员2民族", "成员2工作单位", "成员2职务", "是否进城务工人员随迁子女",
]  # fmt: skip
NATIONAL_TITLE = "全国中小学学籍管理系统学生基本信息表"
PROVINCE_CITY = "广西壮族自治区柳州市"
CHINESE_ORDINALS = "一二三四五六七八九十"


# ---------------------------------------------------------------------------------------------
# Parent: generate the file, prepare each backend, run the measures, print one table
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000, help="students in the file")
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--xlsx", help="keep the generated file here; reuse it if it exists (else a temp file)"
    )
    parser.add_argument(
        "--ie",
        choices=["default", "bulk", "both", "none"],
        default="both",
        help="which django-import-export configurations to run",
    )
    parser.add_argument(
        "--ie-rows", type=int, default=5000, help="rows of the first import-export run"
    )
    parser.add_argument(
        "--ie-max-seconds",
        type=float,
        default=600.0,
        help="run import-export on all rows only if the first run projects to at most this; "
        "otherwise extrapolate",
    )
    parser.add_argument("--profile", help="folder for cProfile output of the two imports")
    parser.add_argument(
        "--spy",
        help="folder for py-spy samples of every import (<backend>-<label>.txt, collapsed "
        "stacks); py-spy from $PY_SPY or PATH (install it outside the project's venv)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--commit",
        help="benchmark this commit's src/ (extracted with git archive) instead of the working "
        "tree, so that edits made during a long run cannot change what is measured",
    )
    parser.add_argument(
        "--layout",
        choices=["standard", "national", "both"],
        default="standard",
        help="the file imported #1 and #2: the 22-column export, the national template's 71 "
        "columns (same students), or both one after the other (their ratios to their own "
        "reads compared)",
    )
    parser.add_argument("--_phase", dest="phase", help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result_path", help=argparse.SUPPRESS)
    parser.add_argument("--_label", dest="label", default="", help=argparse.SUPPRESS)
    parser.add_argument("--_file", dest="file", help=argparse.SUPPRESS)
    parser.add_argument("--_limit", dest="limit", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.phase:
        return run_phase(args)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    scratch = Path(tempfile.mkdtemp(prefix="baoxue-bench-import-"))
    results: list[dict[str, Any]] = []
    try:
        path = Path(args.xlsx) if args.xlsx else scratch / "xueji.xlsx"
        if path.exists():
            log(f"using the existing file {path} ({path.stat().st_size / 1e6:.1f} MB)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            generate_xlsx(path, args.rows, args.schools, args.seed)
        derived = [newer_path(path), roster_path(path), national_path(path)]
        if any(not d.exists() or d.stat().st_mtime < path.stat().st_mtime for d in derived):
            # In a child process: reading the file takes a few hundred MB, and a process's
            # peak RSS passes to the processes it starts (Linux keeps it across fork and
            # exec), which would then report it as their own.
            command = [sys.executable, __file__, "--_phase", "derive", "--_file", str(path)]
            subprocess.run([*command, "--seed", str(args.seed)], check=True)
        layouts = ["standard", "national"] if args.layout == "both" else [args.layout]
        with source_tree(args.commit) as extra_env:
            for layout in layouts:
                file = national_path(path) if layout == "national" else path
                for backend in backends:
                    result = run_backend(backend, args, file, extra_env, derived_from=path)
                    if result is not None:
                        result["layout"] = layout
                        results.append(result)
        print_report(results, args, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not args.xlsx:
            newer_path(path).unlink(missing_ok=True)
            roster_path(path).unlink(missing_ok=True)
            national_path(path).unlink(missing_ok=True)
    ok = len(results) == len(backends) and all(r["passed"] for r in results)
    return 0 if ok else 1


# --- the file --------------------------------------------------------------------------------
def school_specs(n: int) -> list[dict[str, Any]]:
    """n made-up schools of the township: every fourth a junior middle school (grades 7–9),
    the rest primary schools (1–6) spread over the villages; 10-digit codes 2145994001…"""
    from baoxue.demo import names

    specs: list[dict[str, Any]] = []
    per_village: Counter[int] = Counter()
    juniors = 0
    for i in range(n):
        code = f"2145994{i + 1:03d}"
        if i % 4 == 3:
            juniors += 1
            ordinal = CHINESE_ORDINALS[(juniors - 1) % 10] + ("" if juniors <= 10 else str(juniors))
            name = f"{names.TOWNSHIP_NAME}第{ordinal}中学"
            specs.append(
                {"name": name, "code": code, "kind": "junior", "grades": (7, 9), "village": i % 12}
            )
            continue
        village = i % len(names.VILLAGES)
        per_village[village] += 1
        stem = names.VILLAGES[village][0]
        k = per_village[village]
        name = f"{stem}小学" if k == 1 else f"{stem}第{CHINESE_ORDINALS[(k - 1) % 10]}小学"
        specs.append(
            {"name": name, "code": code, "kind": "primary", "grades": (1, 6), "village": village}
        )
    return specs


def school_year_start(today: date) -> int:
    return today.year if today.month >= 9 else today.year - 1


def generate_xlsx(path: Path, rows: int, n_schools: int, seed: int) -> None:
    """The 学籍 export: a title row, the header, `rows` students; every cell a string."""
    import xlsxwriter

    from baoxue.core.idnumbers import check_character
    from baoxue.demo import names

    started = time.perf_counter()
    rng = random.Random(seed)
    schools = school_specs(n_schools)
    year = school_year_start(date.today())
    county_region = names.COUNTY_CODE  # 450225
    used_ids: set[str] = set()
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("学生信息")
    title = workbook.add_format({"bold": True, "font_size": 14})
    sheet.merge_range(0, 0, 0, len(HEADERS) - 1, TITLE, title)
    sheet.write_row(1, 0, HEADERS, workbook.add_format({"bold": True}))
    for r in range(rows):
        school = schools[rng.randrange(len(schools))]
        low, high = school["grades"]
        grade = rng.randint(low, high)
        male = rng.random() < 0.52
        sex = "男" if male else "女"
        ethnicity = names.pick_ethnicity(rng)
        name = names.pick_full_name(rng, ethnicity, sex)
        # Six on the 1 September before grade 1, give or take the year's spread.
        birth = date(year - 6 - grade, 9, 1) + timedelta(days=rng.randrange(365))
        while True:
            seq = rng.randrange(100) * 10 + rng.choice([1, 3, 5, 7, 9] if male else [0, 2, 4, 6, 8])
            first17 = f"{county_region}{birth:%Y%m%d}{seq:03d}"
            id_number = first17 + check_character(first17)
            if id_number not in used_ids:
                used_ids.add(id_number)
                break
        if school["kind"] == "primary" and rng.random() < 0.85:
            village_index = school["village"]
        else:
            village_index = rng.randrange(len(names.VILLAGES))
        village, groups = names.VILLAGES[village_index]
        group = rng.choice(groups)
        boarding = school["kind"] == "junior" or school["village"] == 0
        status = "休学" if rng.random() < 0.005 else "在读"
        left = rng.random()
        left_behind = (
            "非留守儿童" if left < 0.7 else "单亲留守儿童" if left < 0.88 else "双亲留守儿童"
        )
        guardian_sex = "男" if rng.random() < 0.6 else "女"
        guardian = name[0] + names.adult_given_name(rng, guardian_sex)
        phone = "1" + rng.choice("3578") + f"{rng.randrange(10**9):09d}"
        sheet.write_row(
            r + 2,
            0,
            [
                name,
                id_number,
                "G" + id_number,
                sex,
                birth.isoformat(),
                ethnicity,
                school["code"],
                school["name"],
                str(grade),
                f"{rng.randint(1, 4)}班",
                f"{year - grade + 1}-09",
                status,
                ("住校" if rng.random() < 0.6 else "走读") if boarding else "走读",
                village,
                group,
                f"{PROVINCE_CITY}{names.COUNTY_NAME}{names.TOWNSHIP_NAME}{village}{group}"
                f"{rng.randint(1, 80)}号",
                left_behind,
                "是" if rng.random() < 0.005 else "否",
                "是" if rng.random() < 0.003 else "否",
                "是" if rng.random() < 0.01 else "否",
                guardian,
                phone,
            ],
        )
        if (r + 1) % 20_000 == 0:
            log(f"generating the xlsx: {r + 1:,} / {rows:,} rows")
    workbook.close()
    log(
        f"wrote {path} ({rows:,} rows, {path.stat().st_size / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f}s"
    )


def newer_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-newer{path.suffix}")


def roster_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-roster{path.suffix}")


def derive_files(path: Path, seed: int) -> None:
    """The newer export and the roster, from the 学籍 file's students (read once)."""
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    rows = [[str(c) for c in row] for row in sheet.to_python()[2:]]  # below title and header
    generate_newer(rows, newer_path(path))
    generate_roster(rows, roster_path(path), seed)
    generate_national(rows, national_path(path))


def national_path(path: Path) -> Path:
    return path.with_name(path.stem + "-national.xlsx")


def generate_national(rows: list[list[str]], out: Path) -> None:
    """The same students in the national template's 71 columns (NATIONAL_HEADERS)."""
    import xlsxwriter

    started = time.perf_counter()
    at = {h: i for i, h in enumerate(HEADERS)}
    year = school_year_start(date.today())
    workbook = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    sheet = workbook.add_worksheet("学生基本信息")
    sheet.merge_range(0, 0, 0, len(NATIONAL_HEADERS) - 1, NATIONAL_TITLE)
    sheet.write_row(1, 0, NATIONAL_HEADERS)
    for r, row in enumerate(rows):
        grade = int(row[at["年级"]])
        # 入学年月 of this school: a junior school's pupils entered it in grade 7.
        entered = year - (grade - (7 if grade >= 7 else 1))
        address = row[at["户口所在地"]]
        phone = row[at["监护人联系电话"]]
        disabled = row[at["是否残疾人"]] == "是"
        cells = dict.fromkeys(NATIONAL_HEADERS, "")
        cells.update(
            {
                "学校标识码": row[at["学校标识码"]],
                "姓名": row[at["姓名"]],
                "性别": row[at["性别"]],
                "出生日期": row[at["出生日期"]],
                "出生地行政区划代码": "450225000000",
                "籍贯": "广西融水",
                "民族": row[at["民族"]],
                "国籍/地区": "中国",
                "身份证件类型": "居民身份证",
                "港澳台侨外": "否",
                "健康状况": "健康或良好",
                "政治面貌": "少先队员" if grade < 7 else "共青团员",
                "身份证件号": row[at["身份证件号"]],
                "户口性质": "农业户口",
                "户口所在地行政区划": "450225212000",
                "班号": row[at["班级"]].removesuffix("班"),
                "入学年月": f"{entered}-09",
                "入学方式": "就近入学",
                "就读方式": row[at["是否住校"]],
                "现住址": address,
                "通信地址": address,
                "家庭地址": address,
                "联系电话": phone,
                "邮政编码": "545300",
                "是否独生子女": "否",
                "是否受过学前教育": "是",
                "是否留守儿童": row[at["是否留守儿童"]],
                "是否需要申请资助": "否",
                "是否享受一补": "否",
                "是否孤儿": row[at["是否孤儿"]],
                "是否烈士或优抚子女": "否",
                "上下学距离": "2",
                "上下学方式": "步行",
                "是否需要乘坐校车": "否",
                "学籍辅号": f"F{r:06d}",
                "班内学号": str(r % 50 + 1),
                "学生来源": "正常入学",
                "残疾类型": "肢体残疾" if disabled else "无残疾",
                "是否由政府购买学位": "否",
                "随班就读": "是" if disabled else "否",
                "成员1姓名": row[at["监护人姓名"]],
                "成员1关系": "父亲",
                "成员1现住址": address,
                "成员1联系电话": phone,
                "成员1是否监护人": "是",
                "成员1身份证件类型": "居民身份证",
                "成员1民族": row[at["民族"]],
                "成员1工作单位": "务农",
                "成员2姓名": row[at["姓名"]][0] + "母",
                "成员2关系": "母亲",
                "成员2现住址": address,
                "成员2是否监护人": "否",
                "成员2身份证件类型": "居民身份证",
                "成员2民族": row[at["民族"]],
                "成员2工作单位": "外出务工",
                "是否进城务工人员随迁子女": row[at["是否进城务工人员随迁子女"]],
            }
        )
        sheet.write_row(r + 2, 0, [cells[h] for h in NATIONAL_HEADERS])
    workbook.close()
    log(f"wrote {out} (the national template, 71 columns) in {time.perf_counter() - started:.1f}s")


def generate_roster(rows: list[list[str]], roster: Path, seed: int) -> None:
    """The 户籍 roster of the same children (the police station's list: name, ID number,
    village, 屯, household number and head, guardian), from the 学籍 file's rows: about two or
    three children a household."""
    import xlsxwriter

    # The header the import tests use for a police station's export (aliases included).
    from baoxue.imports.tests.helpers import ROSTER_HEADER

    started = time.perf_counter()
    at = {h: i for i, h in enumerate(HEADERS)}
    rng = random.Random(seed + 1)
    workbook = xlsxwriter.Workbook(str(roster), {"constant_memory": True})
    sheet = workbook.add_worksheet("户籍人口")
    sheet.write_row(0, 0, ROSTER_HEADER)
    households = max(1, len(rows) // 30)  # per village: 12 villages, ~2.5 children each
    for r, cells in enumerate(rows):
        guardian = cells[at["监护人姓名"]]
        sheet.write_row(
            r + 1,
            0,
            [
                cells[at["姓名"]],
                cells[at["性别"]],
                cells[at["身份证件号"]],
                cells[at["出生日期"]],
                cells[at["民族"]],
                cells[at["村"]],
                cells[at["组/屯"]],
                f"{rng.randrange(1, households + 1):05d}",
                guardian,
                guardian,
                cells[at["监护人联系电话"]],
                cells[at["是否留守儿童"]],
            ],
        )
    workbook.close()
    log(f"wrote {roster} (the 户籍 roster of the same children) in "
        f"{time.perf_counter() - started:.1f}s")  # fmt: skip


# The classes of the newer export: every student's class is renamed (1班 → 一班 …).
NEWER_CLASS = {f"{n}班": f"{c}班" for n, c in zip(range(1, 5), "一二三四", strict=True)}


def generate_newer(rows: list[list[str]], newer: Path) -> None:
    """The same export with every class renamed: every row changes (one column)."""
    import xlsxwriter

    started = time.perf_counter()
    column = HEADERS.index("班级")
    workbook = xlsxwriter.Workbook(str(newer), {"constant_memory": True})
    sheet = workbook.add_worksheet("学生信息")
    sheet.merge_range(0, 0, 0, len(HEADERS) - 1, TITLE)
    sheet.write_row(1, 0, HEADERS)
    for r, row in enumerate(rows):
        cells = list(row)
        cells[column] = NEWER_CLASS[cells[column]]
        sheet.write_row(r + 2, 0, cells)
    workbook.close()
    log(f"wrote {newer} (every class renamed) in {time.perf_counter() - started:.1f}s")


# --- databases -------------------------------------------------------------------------------
def pg_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def pg_drop(*databases: str) -> None:
    pg_execute(*(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)" for db in databases))


def sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


class Backend:
    """One backend's work dir, environment and databases."""

    def __init__(self, name: str, args: argparse.Namespace, extra_env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix=f"baoxue-bench-import-{name}-"))
        self.extra_env = extra_env
        self.copies = 0

    def env(self, data_dir: Path, database: str = PG_DATABASE) -> dict[str, str]:
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.extra_env,
            "DJANGO_SETTINGS_MODULE": "baoxue.settings",
            "BAOXUE_DATA_DIR": str(data_dir),
            "BAOXUE_STATIC_ROOT": str(self.workdir / "static"),
            "BAOXUE_FIELD_KEY": FIELD_KEY,
            "BAOXUE_SECRET_KEY": SECRET_KEY,
            "BAOXUE_DEBUG": "0",
            "BAOXUE_LOG_LEVEL": "WARNING",
        }
        env.pop("DATABASE_URL", None)
        if self.name == "postgres":
            env["DATABASE_URL"] = f"{PG_SERVER}/{database}"
        return env

    @property
    def main_env(self) -> dict[str, str]:
        return self.env(self.workdir / "data")

    def create(self) -> None:
        if self.name == "postgres":
            pg_drop(PG_DATABASE, PG_EMPTY, PG_IE)
            pg_execute(f"CREATE DATABASE {PG_DATABASE}")

    def snapshot_empty(self) -> None:
        """Keep the prepared, empty registry for the import-export runs."""
        if self.name == "postgres":
            pg_execute(f"CREATE DATABASE {PG_EMPTY} TEMPLATE {PG_DATABASE}")
        else:
            sqlite_copy(self.workdir / "data" / "baoxue.sqlite3", self.workdir / "empty.sqlite3")

    @contextmanager
    def empty_copy(self) -> Iterator[dict[str, str]]:
        """The environment of a fresh copy of the empty registry."""
        self.copies += 1
        data_dir = self.workdir / f"ie-{self.copies}" / "data"
        if self.name == "postgres":
            pg_drop(PG_IE)
            pg_execute(f"CREATE DATABASE {PG_IE} TEMPLATE {PG_EMPTY}")
        else:
            sqlite_copy(self.workdir / "empty.sqlite3", data_dir / "baoxue.sqlite3")
        try:
            yield self.env(data_dir, PG_IE)
        finally:
            if self.name == "postgres":
                pg_drop(PG_IE)
            shutil.rmtree(data_dir.parent, ignore_errors=True)

    def cleanup(self) -> None:
        if self.args.keep:
            where = f" and {PG_SERVER}/{PG_DATABASE}, {PG_EMPTY}" if self.name == "postgres" else ""
            log(f"{self.name}: kept {self.workdir}{where}")
            return
        if self.name == "postgres":
            pg_drop(PG_DATABASE, PG_EMPTY, PG_IE)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def phase(
        self, phase: str, path: Path, env: dict[str, str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        result_path = self.workdir / f"{phase}-{extra.get('label', '')}.json"
        result_path.unlink(missing_ok=True)
        command = [
            sys.executable, __file__, "--_phase", phase, "--_result", str(result_path),
            "--_file", str(path), "--rows", str(self.args.rows),
            "--schools", str(self.args.schools),
        ]  # fmt: skip
        if extra.get("label"):
            command += ["--_label", extra["label"]]
        if extra.get("limit"):
            command += ["--_limit", str(extra["limit"])]
        if self.args.profile:
            command += ["--profile", self.args.profile]
        if self.args.spy and phase == "import":
            spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
            out = Path(self.args.spy) / f"{self.name}-{extra.get('label', phase)}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            command = [
                spy,
                "record",
                "--rate",
                "50",
                # e.g. PY_SPY_ARGS="--threads --gil": per thread, only the lock's holder
                *os.environ.get("PY_SPY_ARGS", "").split(),
                "--format",
                "raw",
                "-o",
                str(out),
                "--",
                *command,
            ]
        code = subprocess.run(command, env=env or self.main_env, check=False).returncode
        if code != 0 or not result_path.exists():
            raise RuntimeError(f"{self.name}: phase {phase} {extra} failed (exit {code})")
        result: dict[str, Any] = json.loads(result_path.read_text())
        return result


def run_backend(
    name: str,
    args: argparse.Namespace,
    path: Path,
    extra_env: dict[str, str],
    derived_from: Path | None = None,
) -> dict[str, Any] | None:
    """`derived_from`: the 22-column file the newer export and the roster were made from (the
    national layout's run imports them as the 22-column run does)."""
    base = derived_from or path
    backend = Backend(name, args, extra_env)
    log(f"== {name}: work dir {backend.workdir}")
    try:
        backend.create()
        setup = backend.phase("setup", path)
        backend.snapshot_empty()

        # Each import is compared with the reads made next to it in time: this machine's
        # speed drifts by a third within the half hour a run takes, and a read measured at
        # the start would judge a later import by another machine's speed.
        def read_now() -> dict[str, Any]:
            log(f"{name}: reading with python-calamine alone (best of 3)")
            found = backend.phase("read", path)
            log(f"{name}: calamine read {found['seconds']:.2f}s ({found['method']})")
            return found

        reads_1 = [read_now()]
        first = backend.phase("import", path, label="import1")
        reads_1.append(read_now())
        # The same file again, three times (it changes nothing, so each is a second import),
        # each after a read: the fastest import counts, against the fastest of those reads.
        reads_2: list[dict[str, Any]] = []
        again: list[dict[str, Any]] = []
        for _ in range(3):
            reads_2.append(read_now())
            again.append(backend.phase("import", path, label="import2"))
        second = {
            **min(again, key=lambda m: m["seconds"]),
            "runs": [m["seconds"] for m in again],
            "peak_rss_mb": max(m["peak_rss_mb"] for m in again),
            "problems": [p for m in again for p in m["problems"]],
        }
        first["read"] = min(m["seconds"] for m in reads_1)
        second["read"] = min(m["seconds"] for m in reads_2)
        read = {
            **min(reads_1 + reads_2, key=lambda m: m["seconds"]),
            "phases": [m["seconds"] for m in reads_1 + reads_2],
        }
        # A newer export of the same students with every class changed (a new school year's
        # file changes every row), and the 户籍 roster of the same children: informational,
        # run with the 22-column file only (the national template carries no 学生当前状态, so
        # the 22-column files would change some of its rows by design).
        later: dict[str, dict[str, Any]] = {}
        if path == base:  # the 22-column run (the national one is given the file they came from)
            later["import3"] = backend.phase("import", newer_path(base), label="import3")
            later["roster-after"] = backend.phase("import", roster_path(base), label="roster-after")
            with backend.empty_copy() as env:
                later["roster-empty"] = backend.phase(
                    "import", roster_path(base), env, label="roster-empty"
                )
        ie: list[dict[str, Any]] = []
        modes = {"both": ["default", "bulk"], "none": []}.get(args.ie, [args.ie])
        for mode in modes:
            ie.append(run_import_export(backend, mode, path))
        result = {
            "backend": name,
            "source": setup["source"],
            "setup": setup,
            "read": read,
            "import1": first,
            "import2": second,
            **later,
            "ie": ie,
        }
        result["verdicts"] = verdicts(result)
        result["passed"] = all(v == "PASS" for v in result["verdicts"].values()) and not any(
            m["problems"] for m in later.values()
        )
        return result
    except RuntimeError as exc:
        log(str(exc))
        return None
    finally:
        backend.cleanup()


def run_import_export(backend: Backend, mode: str, path: Path) -> dict[str, Any]:
    args = backend.args
    sample = min(args.ie_rows, args.rows)
    label = f"ie-{mode}"
    log(f"{backend.name}: django-import-export ({mode}) on {sample:,} rows")
    with backend.empty_copy() as env:
        run = backend.phase("ie", path, env, label=label, limit=sample)
    projected = run["seconds"] * args.rows / sample
    runs = [run]
    if sample < args.rows and projected <= args.ie_max_seconds:
        log(
            f"{backend.name}: import-export ({mode}) projects to {projected:.0f}s for "
            f"{args.rows:,} rows: running it on all of them"
        )
        with backend.empty_copy() as env:
            full = backend.phase("ie", path, env, label=label, limit=args.rows)
        runs.append(full)
        return {"mode": mode, "seconds": full["seconds"], "extrapolated": False, "runs": runs}
    return {
        "mode": mode,
        "seconds": projected,
        "extrapolated": sample < args.rows,
        "runs": runs,
    }


# --- the report ------------------------------------------------------------------------------
def verdicts(r: dict[str, Any]) -> dict[str, str]:
    first, second = r["import1"], r["import2"]

    def judge(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    out = {
        "import1": judge(first["seconds"] <= READ_TARGET * first["read"] and not first["problems"]),
        "import2": judge(
            second["seconds"] <= SECOND_TARGET * second["read"] and not second["problems"]
        ),
        "rss1": judge(first["peak_rss_mb"] < RSS_TARGET_MB),
        "rss2": judge(second["peak_rss_mb"] < RSS_TARGET_MB),
    }
    for ie in r["ie"]:
        if ie["mode"] == "default":
            out["ie-default"] = judge(ie["seconds"] >= IE_TARGET * first["seconds"])
    return out


def print_report(results: list[dict[str, Any]], args: argparse.Namespace, path: Path) -> None:
    print()
    print(
        f"Import speed: {args.rows:,}-row 学籍 xlsx ({len(HEADERS)} columns, title row + "
        f"header, {path.stat().st_size / 1e6:.1f} MB), {args.schools} schools, 12 villages, "
        f"into an empty registry"
    )
    versions = sorted({r["source"] for r in results})
    print(
        f"Code: {', '.join(versions)}"
        + (" (differs between backends!)" if len(versions) > 1 else "")
    )
    if args.profile:
        print("Imports ran under cProfile (--profile): their times are inflated.")
    print()
    header = (
        f"{'backend':<17} {'measure':<58} {'seconds':>8} {'ratio':>8} {'target':>13} {'result':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        b = r["backend"] + ("/national" if r.get("layout") == "national" else "")

        def line(*cells: str, b: str = b) -> None:
            measure, seconds, ratio, target, result = cells
            print(f"{b:<17} {measure:<58} {seconds:>8} {ratio:>8} {target:>13} {result:>6}")

        read = r["read"]["seconds"]
        first, second = r["import1"], r["import2"]
        v = r["verdicts"]

        line(
            f"python-calamine read alone ({r['read']['method']}, best of all)",
            f"{read:.2f}",
            "1.00",
            "",
            "",
        )
        line(
            "read just before and after import #1 (best)",
            f"{first['read']:.2f}",
            "1.00",
            "",
            "",
        )
        line(
            "import #1: empty registry (read, validate, write)",
            f"{first['seconds']:.2f}",
            f"{first['seconds'] / first['read']:.2f}×",
            f"≤{READ_TARGET:g}× read",
            v["import1"],
        )
        line(
            "read just before each import #2 (best)",
            f"{second['read']:.2f}",
            "1.00",
            "",
            "",
        )
        line(
            "import #2: same file again (all unchanged, best of 3)",
            f"{second['seconds']:.2f}",
            f"{second['seconds'] / second['read']:.2f}×",
            f"≤{SECOND_TARGET:g}× read",
            v["import2"],
        )
        extra = (
            ("import3", "import #3: newer export, every row's class changed"),
            ("roster-after", "户籍 roster after the 学籍 (every child matched)"),
            ("roster-empty", "户籍 roster into an empty registry"),
        )
        for key, title in extra:
            if key in r:
                m = r[key]
                line(
                    title,
                    f"{m['seconds']:.2f}",
                    f"{m['seconds'] / read:.2f}×",
                    "(info)",
                    "FAIL" if m["problems"] else "",
                )
        for ie in r["ie"]:
            how = (
                f"extrapolated from {ie['runs'][0]['rows']:,} rows"
                if ie["extrapolated"]
                else f"measured, {ie['runs'][-1]['rows']:,} rows"
            )
            line(
                f"django-import-export {ie['mode']} ({how})",
                f"{ie['seconds']:.1f}",
                f"{ie['seconds'] / first['seconds']:.1f}×",
                f"≥{IE_TARGET:g}× #1" if ie["mode"] == "default" else "(info)",
                v.get(f"ie-{ie['mode']}", ""),
            )
        for key, title in (("import1", "import #1"), ("import2", "import #2")):
            line(
                f"peak RSS, {title} (MB)",
                f"{r[key]['peak_rss_mb']:.0f}",
                "",
                f"<{RSS_TARGET_MB:g} MB",
                v["rss" + key[-1]],
            )
        for key, title in extra:
            if key in r:
                short = title.split(":")[0].split(" (")[0]
                line(f"peak RSS, {short} (MB)", f"{r[key]['peak_rss_mb']:.0f}", "", "(info)", "")
    # --layout both: the national template against the 22-column export, each import's
    # multiple of its own file's read (issue 20: the wider file may take no larger multiple).
    by = {(r["backend"], r.get("layout", "standard")): r for r in results}
    for backend in sorted({r["backend"] for r in results}):
        standard, national = by.get((backend, "standard")), by.get((backend, "national"))
        if standard is None or national is None:
            continue
        for key, title in (("import1", "import #1"), ("import2", "import #2")):
            a = standard[key]["seconds"] / standard[key]["read"]
            n = national[key]["seconds"] / national[key]["read"]
            print(
                f"{backend}: {title}: national template {n:.2f}× its read "
                f"({national[key]['read']:.2f}s) vs the 22-column export {a:.2f}× its read "
                f"({standard[key]['read']:.2f}s): {'PASS' if n <= a else 'FAIL'} "
                "(national ≤ 22-column)"
            )
    print()
    for r in results:
        b = r["backend"] + ("/national" if r.get("layout") == "national" else "")
        s = r["setup"]
        print(
            f"{b}: setup (untimed): migrate {s['migrate_seconds']:.0f}s; {s['regions']} regions "
            f"(county, township, {s['villages']} villages, {s['groups']} 屯), {s['schools']} "
            f"schools and user {s['user']} created before the imports"
        )
        rd = r["read"]
        print(
            f"{b}: calamine: iter_rows best {rd['iter_rows']:.2f}s (runs "
            f"{', '.join(f'{t:.2f}' for t in rd['iter_rows_runs'])}), to_python best "
            f"{rd['to_python']:.2f}s; best of each read phase, in order: "
            f"{', '.join(f'{t:.2f}' for t in rd['phases'])}s; {rd['rows']:,} sheet rows; "
            f"peak RSS {rd['peak_rss_mb']:.0f} MB; load average {rd['load'][0]:.1f} → "
            f"{rd['load'][1]:.1f}"
        )
        for key, title in (
            ("import1", "import #1"),
            ("import2", "import #2"),
            ("import3", "import #3"),
            ("roster-after", "roster after the 学籍"),
            ("roster-empty", "roster into an empty registry"),
        ):
            if key not in r:
                continue
            m = r[key]
            if "runs" in m:
                print(f"{b}: {title}: runs {', '.join(f'{t:.2f}s' for t in m['runs'])}")
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in m["stages"].items())
            plan = ", ".join(f"{k} {v:,}" for k, v in m["plan"].items())
            print(f"{b}: {title}: {stages}; plan: {plan}; {m['rejected']} rejected, "
                  f"{m['warned']} with warnings")  # fmt: skip
            print(
                f"{b}: {title}: through Django's cursor (core.bulk writes past it) "
                f"{m['queries']['select']} SELECTs, {m['queries']['write']} writes "
                f"({', '.join(f'{k} ×{n}' for k, n in m['queries']['writes'].items()) or 'none'}); "
                f"registry rows after: {', '.join(f'{k} {n:,}' for k, n in m['counts'].items())}; "
                f"RSS before the import {m['base_rss_mb']:.0f} MB, peak after "
                f"{', '.join(f'{k} {v:.0f}' for k, v in m.get('peaks', {}).items()) or '-'} MB; "
                "load average "
                f"{m['load'][0]:.1f} → {m['load'][1]:.1f}"
            )
            db = m.get("database", {})
            if db and key == "import1":
                total = db["inserts"] + db["builds"] + db["commit"]
                print(
                    f"{b}: {title}: in the writes: row inserts {db['inserts']:.2f}s (a helper "
                    f"thread beside the Python; with binding the values and waits for the "
                    f"interpreter lock), index and key builds {db['builds']:.2f}s, COMMIT "
                    f"{db['commit']:.2f}s; together {total:.2f}s = "
                    f"{total / m['read']:.2f}× read"
                )
            fl = m.get("floor", {})
            if fl:
                total = sum(fl.values())
                print(
                    f"{b}: {title}: the database floor (the same rows copied by INSERT … SELECT "
                    f"into empty tables, no Python): inserts {fl['inserts']:.2f}s, index and key "
                    f"builds {fl['builds']:.2f}s, COMMIT {fl['commit']:.2f}s; together "
                    f"{total:.2f}s = {total / m['read']:.2f}× read"
                )
            if m.get("computing") is not None:
                computing = m["computing"]
                total = 1 + sum(fl.values()) / m["read"] + computing / m["read"]
                print(
                    f"{b}: {title}: what the registry computes for each row, done alone in the "
                    f"tightest loop (ID number parsed and checked, ID number and 学籍号 "
                    f"encrypted and hashed, the name's pinyin keys): {computing:.2f}s = "
                    f"{computing / m['read']:.2f}× read; the read, the database floor and "
                    f"this together: {total:.2f}× read, before any validation, matching or "
                    f"moving of values"
                )
            for problem in m["problems"]:
                print(f"{b}: {title}: PROBLEM: {problem}")
        for ie in r["ie"]:
            for run in ie["runs"]:
                print(
                    f"{b}: import-export {ie['mode']}: {run['rows']:,} rows in "
                    f"{run['seconds']:.1f}s ({run['rows'] / run['seconds']:,.0f} rows/s), "
                    f"totals {run['totals']}, children written {run['children']:,}, "
                    f"{run['queries']['select']:,} SELECTs, {run['queries']['write']:,} writes, "
                    f"peak RSS {run['peak_rss_mb']:.0f} MB, load average {run['load'][0]:.1f} → "
                    f"{run['load'][1]:.1f}"
                    + (f", ERRORS: {run['errors']}" if run["errors"] else "")
                )
    if any(r["ie"] for r in results):
        print(
            "import-export: Dataset built from calamine's rows (tablib needs openpyxl for xlsx, "
            "not installed); only import_data timed; it writes Child rows only (no enrollments "
            "or events), so the ratio flatters it."
        )


# ---------------------------------------------------------------------------------------------
# Child processes: one measure each
# ---------------------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_phase(args: argparse.Namespace) -> int:
    if args.phase == "derive":
        derive_files(Path(args.file), args.seed)
        return 0
    phases: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "setup": phase_setup,
        "read": phase_read,
        "import": phase_import,
        "ie": phase_import_export,
    }
    load = os.getloadavg()[0]
    result = phases[args.phase](args)
    result["load"] = [load, os.getloadavg()[0]]
    Path(args.result_path).write_text(json.dumps(result, indent=1, default=str))
    return 0


def phase_read(args: argparse.Namespace) -> dict[str, Any]:
    from python_calamine import CalamineWorkbook

    def iter_rows() -> int:
        workbook = CalamineWorkbook.from_path(args.file)
        sheet = workbook.get_sheet_by_index(0)
        n = sum(1 for _row in sheet.iter_rows())
        workbook.close()
        return n

    def to_python() -> int:
        workbook = CalamineWorkbook.from_path(args.file)
        n = len(workbook.get_sheet_by_index(0).to_python())
        workbook.close()
        return n

    timings: dict[str, list[float]] = {}
    rows = 0
    for name, read in (("iter_rows", iter_rows), ("to_python", to_python)):
        timings[name] = []
        for _ in range(3):
            started = time.perf_counter()
            rows = read()
            timings[name].append(time.perf_counter() - started)
    best = {name: min(t) for name, t in timings.items()}
    method = min(best, key=lambda k: best[k])
    return {
        "seconds": best[method],
        "method": method,
        "iter_rows": best["iter_rows"],
        "to_python": best["to_python"],
        "iter_rows_runs": timings["iter_rows"],
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def django_setup() -> None:
    import django

    django.setup()


def phase_setup(args: argparse.Namespace) -> dict[str, Any]:
    source = os.environ.get("BAOXUE_BENCH_SOURCE") or source_version()
    django_setup()
    import baoxue

    log(f"setup: measuring {source}, package at {Path(baoxue.__file__).parent}")
    from django.core.management import call_command
    from django.db import transaction

    from baoxue.accounts.models import Role
    from baoxue.accounts.services import Grant, user_create
    from baoxue.demo import names
    from baoxue.demo.builder import ensure_county
    from baoxue.imports.sources.enrollment import EnrollmentSource
    from baoxue.registry.models import Region, School
    from baoxue.registry.services import region_create, school_create

    # Every column of the files is one the import knows by that very header.
    labels = {f.label for f in EnrollmentSource.fields}
    if not set(HEADERS) <= labels:
        raise SystemExit(f"EnrollmentSource columns changed: {sorted(set(HEADERS) - labels)}")
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_seconds = time.perf_counter() - started
    with transaction.atomic():
        county = ensure_county()
        township = region_create(
            name=names.TOWNSHIP_NAME,
            level="township",
            parent=county,
            code=names.TOWNSHIP_CODE + "000",
        )
        villages = []
        for i, (village_name, groups) in enumerate(names.VILLAGES):
            village = region_create(
                name=village_name, level="village", parent=township, code=names.village_code(i)
            )
            for group_name in groups:
                region_create(name=group_name, level="group", parent=village)
            villages.append(village)
        for spec in school_specs(args.schools):
            school_create(
                name=spec["name"],
                kind=spec["kind"],
                region=villages[spec["village"]],
                code=spec["code"],
                is_boarding=spec["kind"] == "junior" or spec["village"] == 0,
                lowest_grade=spec["grades"][0],
                highest_grade=spec["grades"][1],
            )
        user = user_create(
            actor=None,
            username="bench_township",
            password="bench-township-pw",
            grants=[Grant(Role.TOWNSHIP_OFFICE, region=township)],
            check_password=False,
        )
    log(f"setup: migrated in {migrate_seconds:.0f}s; places, schools and user created")
    return {
        "source": source,
        "migrate_seconds": migrate_seconds,
        "regions": Region.objects.count(),
        "villages": Region.objects.filter(level="village").count(),
        "groups": Region.objects.filter(level="group").count(),
        "schools": School.objects.count(),
        "user": user.username,
    }


class QueryCounter:
    """Counts SQL statements (connection.execute_wrapper): SELECTs, and writes by table; times
    the index and foreign-key builds (core.bulk.indexes_deferred)."""

    def __init__(self) -> None:
        self.select = 0
        self.writes: Counter[str] = Counter()
        self.build_seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        words = sql.lstrip().split(None, 3)
        verb = words[0].upper() if words else ""
        if verb == "SELECT":
            self.select += 1
        elif verb in {"INSERT", "UPDATE", "DELETE"}:
            table = words[2] if verb in {"INSERT", "DELETE"} else words[1]
            self.writes[f"{verb} {table.strip(chr(34))}"] += 1
        elif (verb == "CREATE" and "INDEX" in words[1:3]) or (
            verb == "ALTER" and " ADD CONSTRAINT " in sql
        ):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.build_seconds += time.perf_counter() - started
        return execute(sql, params, many, context)

    def summary(self) -> dict[str, Any]:
        return {
            "select": self.select,
            "write": sum(self.writes.values()),
            "writes": dict(self.writes.most_common()),
        }


@contextmanager
def database_clock() -> Iterator[dict[str, float]]:
    """Seconds the database itself spends on an import's writes: the bulk row inserts
    (core.bulk.RowWriter._write, in the helper thread of BackgroundWrites or not) and the
    transaction's COMMIT. With the index builds (QueryCounter), the least any importer
    writing the same rows, indexes and transaction would spend."""
    from django.db import connections

    from baoxue.core.bulk import RowWriter

    clock = {"inserts": 0.0, "commit": 0.0}
    wrapper = type(connections["default"])
    write, commit = RowWriter._write, wrapper._commit

    def timed_write(self: Any, *args: Any) -> None:
        started = time.perf_counter()
        try:
            write(self, *args)
        finally:
            clock["inserts"] += time.perf_counter() - started

    def timed_commit(self: Any) -> None:
        started = time.perf_counter()
        try:
            commit(self)
        finally:
            clock["commit"] += time.perf_counter() - started

    RowWriter._write = timed_write  # type: ignore[method-assign]
    wrapper._commit = timed_commit  # type: ignore[method-assign]
    try:
        yield clock
    finally:
        RowWriter._write = write  # type: ignore[method-assign]
        wrapper._commit = commit  # type: ignore[method-assign]


FLOOR_TABLES = [
    "registry_child",
    "registry_guardian",
    "registry_enrollment",
    "registry_enrollmentevent",
]


def database_floor() -> dict[str, float]:
    """What the database alone needs to hold import #1's rows: the rows of the tables it
    filled copied by one INSERT … SELECT each (no Python, no parameters) into empty tables of
    the same definition, with their primary and unique keys kept up during the insert and
    their other indexes (and, on PostgreSQL, foreign keys) built afterwards, then COMMIT; in a
    database (SQLite: an attached file, foreign keys not checked) or schema (PostgreSQL) of its
    own, removed afterwards. Any importer writing these rows, indexes and transaction spends
    at least this."""
    from django.db import connection, transaction

    sqlite = connection.vendor == "sqlite"
    floor = "bench_floor"
    qn = connection.ops.quote_name
    spent = {"inserts": 0.0, "builds": 0.0, "commit": 0.0}
    path = Path(tempfile.mkdtemp(prefix="baoxue-bench-floor-")) / "floor.sqlite3"
    cursor = connection.cursor()
    try:
        if sqlite:
            cursor.execute("ATTACH DATABASE %s AS bench_floor", [str(path)])
        else:
            cursor.execute(f"DROP SCHEMA IF EXISTS {floor} CASCADE")
            cursor.execute(f"CREATE SCHEMA {floor}")
        before, after = [], []
        for table in FLOOR_TABLES:
            if sqlite:
                cursor.execute(
                    "SELECT type, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL "
                    "ORDER BY type = 'index'",
                    [table],
                )
                for kind, sql in cursor.fetchall():
                    # CREATE [UNIQUE] INDEX "name" ON "table" … / CREATE TABLE "table" (…)
                    head, _sep, rest = sql.partition('"')
                    qualified = f'{head}{floor}."{rest}'
                    if kind == "table":
                        cursor.execute(qualified)
                    elif sql.startswith("CREATE UNIQUE"):
                        before.append(qualified)
                    else:
                        after.append(qualified)
            else:
                cursor.execute(
                    f"CREATE TABLE {floor}.{qn(table)} (LIKE public.{qn(table)} INCLUDING DEFAULTS)"
                )
                cursor.execute(
                    "SELECT i.indisunique OR i.indisprimary, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i WHERE i.indrelid = %s::regclass",
                    [table],
                )
                for unique, sql in cursor.fetchall():
                    sql = sql.replace(" ON public.", f" ON {floor}.")
                    (before if unique else after).append(sql)
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    [table],
                )
                after += [
                    f"ALTER TABLE {floor}.{qn(table)} ADD CONSTRAINT {qn(name)} {definition}"
                    for name, definition in cursor.fetchall()
                ]
        for sql in before:
            cursor.execute(sql)
        if sqlite:
            # The floor's tables point at tables it does not copy (regions, schools, users).
            cursor.execute("PRAGMA foreign_keys = OFF")
        with transaction.atomic():
            started = time.perf_counter()
            for table in FLOOR_TABLES:
                cursor.execute(f"INSERT INTO {floor}.{qn(table)} SELECT * FROM {qn(table)}")
            spent["inserts"] = time.perf_counter() - started
            started = time.perf_counter()
            for sql in after:
                cursor.execute(sql)
            spent["builds"] = time.perf_counter() - started
            committing = time.perf_counter()
        spent["commit"] = time.perf_counter() - committing
    finally:
        if sqlite:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("DETACH DATABASE bench_floor")
        else:
            cursor.execute(f"DROP SCHEMA IF EXISTS {floor} CASCADE")
        cursor.close()
        shutil.rmtree(path.parent, ignore_errors=True)
    return spent


def computing_floor(path: Path) -> float:
    """What the registry's design asks of every row of import #1, each done once in the
    tightest loop and nothing else: parse and check the ID number (GB 11643: check character,
    birth date), encrypt it (AES-GCM) and hash it for lookups (HMAC-SHA256), the same for the
    学籍号, and the name's pinyin search keys. The cells come from a calamine read (not
    timed). Any importer of this registry spends at least this beside the read and the
    database floor."""
    from python_calamine import CalamineWorkbook

    from baoxue.core import crypto, idnumbers
    from baoxue.core.text import pinyin_keys

    workbook = CalamineWorkbook.from_path(str(path))
    rows = workbook.get_sheet_by_index(0).iter_rows()
    header = [str(c) for c in next(islice(rows, 1, None))]
    name, number = header.index("姓名"), header.index("身份证件号")
    student = header.index("学籍号") if "学籍号" in header else None  # none in the national one
    cells = [
        (str(r[name]), str(r[number]), "" if student is None else str(r[student])) for r in rows
    ]
    workbook.close()
    encrypt, lookup_hash, parse = crypto.encrypt, crypto.lookup_hash, idnumbers.parse
    started = time.perf_counter()
    for child_name, id_number, student_number in cells:
        parse(id_number)
        encrypt(id_number)
        lookup_hash(id_number)
        encrypt(student_number)
        lookup_hash(student_number)
        pinyin_keys(child_name)
    return time.perf_counter() - started


def registry_counts() -> dict[str, int]:
    from baoxue.registry.models import (
        Child,
        Enrollment,
        EnrollmentEvent,
        Guardian,
        Region,
        School,
    )

    return {
        "children": Child.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "events": EnrollmentEvent.objects.count(),
        "guardians": Guardian.objects.count(),
        "regions": Region.objects.count(),
        "schools": School.objects.count(),
    }


def warm_up() -> None:
    """What a long-running worker has loaded already: the pinyin dictionary, the ID-number
    regions, the field key, the translations."""
    from django.utils.translation import gettext

    from baoxue.core import crypto, idnumbers
    from baoxue.core.text import pinyin_keys

    pinyin_keys("吴俊辉")
    idnumbers.parse("450225201605020011")
    crypto.lookup_hash(crypto.decrypt(crypto.encrypt("x")))
    gettext("姓名不能为空")


@contextmanager
def maybe_profile(args: argparse.Namespace, name: str) -> Iterator[None]:
    if not args.profile:
        yield
        return
    import cProfile

    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    backend = "postgres" if os.environ.get("DATABASE_URL") else "sqlite"
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        target = folder / f"{backend}-{name}.prof"
        profiler.dump_stats(target)
        log(f"profile written to {target}")


def phase_import(args: argparse.Namespace) -> dict[str, Any]:
    django_setup()
    from django.db import connection

    from baoxue.accounts.models import User
    from baoxue.imports import pipeline
    from baoxue.imports.sources.base import Action
    from baoxue.imports.sources.enrollment import EnrollmentSource
    from baoxue.imports.sources.roster import RosterSource
    from baoxue.registry.models import Child, Enrollment, Household, Region

    label = args.label
    stages: dict[str, float] = {}
    # The peak RSS when each stage ends: which stage sets the process's peak.
    peaks: dict[str, float] = {}
    base: Any = RosterSource if label.startswith("roster") else EnrollmentSource

    class TimedSource(base):  # type: ignore[misc, valid-type]
        """The source with its plan and commit timed (the rest of run() is reading and
        validating, which are interleaved: rows are read as they are validated)."""

        def plan(self, records: Any, ctx: Any) -> Any:
            log(f"{label}: planning {len(records):,} rows")
            peaks["read+validate"] = peak_rss_mb()
            started = time.perf_counter()
            try:
                return super().plan(records, ctx)
            finally:
                stages["plan"] = time.perf_counter() - started
                peaks["plan"] = peak_rss_mb()

        def commit(self, plan: Any, ctx: Any, progress: Any) -> None:
            log(f"{label}: committing")
            started = time.perf_counter()
            try:
                super().commit(plan, ctx, progress)
            finally:
                stages["commit"] = time.perf_counter() - started
                peaks["commit"] = peak_rss_mb()

    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 5 or done == total:
            last[0] = now
            log(f"{label}: {stage} {done:,} / {total:,}")

    warm_up()
    user = User.objects.get(username="bench_township")
    township = Region.objects.get(level="township")
    before = registry_counts()
    base_rss = peak_rss_mb()
    counter = QueryCounter()
    log(f"{label}: importing {args.file}")
    with (
        connection.execute_wrapper(counter),
        database_clock() as clock,
        maybe_profile(args, label),
    ):
        started = time.perf_counter()
        ctx = pipeline.ImportContext(actor=user, township=township)
        outcome = pipeline.run(Path(args.file), TimedSource(), ctx, commit=True, progress=progress)
        seconds = time.perf_counter() - started
    stages = {
        "read+validate": seconds - stages.get("plan", 0) - stages.get("commit", 0),
        **stages,
    }
    # The import's own peak, before the floors below read the file and copy the tables.
    import_peak = peak_rss_mb()
    after = registry_counts()
    floor = database_floor() if label == "import1" else {}
    computing = computing_floor(Path(args.file)) if label == "import1" else None
    plan = {a: outcome.count(a) for a in (Action.CREATE, Action.UPDATE, Action.UNCHANGED)}
    problems: list[str] = []
    rows = args.rows
    if outcome.rows_total != rows:
        problems.append(f"{outcome.rows_total} rows read, expected {rows}")
    if outcome.rejected_rows:
        codes = Counter(i.code for i in outcome.issues if i.severity == "error")
        problems.append(f"{outcome.rejected_rows} rows rejected: {dict(codes)}")
    if after["regions"] != before["regions"] or after["schools"] != before["schools"]:
        problems.append("the import created places or schools")
    if label == "import1":
        if plan[Action.CREATE] != rows:
            problems.append(f"planned {plan}, expected {rows} to create")
        expected = {"children": rows, "enrollments": rows, "events": rows, "guardians": rows}
        for key, n in expected.items():
            if after[key] - before[key] != n:
                problems.append(f"{after[key] - before[key]} {key} written, expected {n}")
    elif label == "roster-empty":
        if plan[Action.CREATE] != rows:
            problems.append(f"planned {plan}, expected {rows} to create")
        for key in ("children", "guardians"):
            if after[key] - before[key] != rows:
                problems.append(f"{after[key] - before[key]} {key} written, expected {rows}")
        if not Household.objects.exists():
            problems.append("no households written")
    elif label in {"import3", "roster-after"}:  # every row changes something
        if plan[Action.UPDATE] != rows:
            problems.append(f"planned {plan}, expected all {rows} to update")
        if after != before:
            problems.append(f"rows were added or removed: {before} → {after}")
        if label == "import3":
            renamed = Enrollment.objects.filter(class_name__in=NEWER_CLASS.values()).count()
            if renamed != rows:
                problems.append(f"{renamed:,} in the renamed classes, expected {rows:,}")
        elif Child.objects.filter(household=None).exists():
            problems.append("a child was not placed in its household")
    else:
        if plan[Action.UNCHANGED] != rows:
            problems.append(f"planned {plan}, expected all {rows} unchanged")
        if after != before:
            problems.append(f"the registry changed: {before} → {after}")
    log(f"{label}: {seconds:.2f}s, plan {plan}, peak RSS {import_peak:.0f} MB")
    return {
        "seconds": seconds,
        "stages": stages,
        "peaks": peaks,
        "plan": plan,
        "rejected": outcome.rejected_rows,
        "warned": outcome.warned_rows,
        "issue_codes": dict(Counter(i.code for i in outcome.issues)),
        "counts": after,
        "queries": counter.summary(),
        "database": {**clock, "builds": counter.build_seconds},
        "floor": floor,
        "computing": computing,
        "problems": problems,
        "base_rss_mb": base_rss,
        "peak_rss_mb": import_peak,
    }


def phase_import_export(args: argparse.Namespace) -> dict[str, Any]:
    django_setup()
    import tablib
    from django.db import connection
    from python_calamine import CalamineWorkbook

    from baoxue.registry.models import Child

    mode = args.label.removeprefix("ie-")
    resource_class = make_child_resource(bulk=mode == "bulk")
    warm_up()
    # The same rows, read by calamine: the title row, the header, then the students.
    workbook = CalamineWorkbook.from_path(args.file)
    sheet_rows = workbook.get_sheet_by_index(0).to_python()
    workbook.close()
    headers = [str(h) for h in sheet_rows[1]]
    assert headers == HEADERS, headers
    data = sheet_rows[2 : 2 + args.limit]
    dataset = tablib.Dataset(*data, headers=headers)
    del sheet_rows, data
    base_rss = peak_rss_mb()
    resource = resource_class()
    counter = QueryCounter()
    log(f"{args.label}: import_data on {len(dataset):,} rows")
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = resource.import_data(dataset, dry_run=False, use_transactions=True)
        seconds = time.perf_counter() - started
    errors = []
    if result.has_errors():
        errors += [str(e.error) for e in result.base_errors[:3]]
        errors += [
            str(err.error) for _, row_errors in result.row_errors()[:3] for err in row_errors
        ]
    if result.has_validation_errors():
        errors += [str(r.error) for r in result.invalid_rows[:3]]
    children = Child.objects.count()
    log(f"{args.label}: {len(dataset):,} rows in {seconds:.1f}s, {children:,} children")
    return {
        "rows": len(dataset),
        "seconds": seconds,
        "totals": {k: v for k, v in result.totals.items() if v},
        "children": children,
        "errors": errors,
        "queries": counter.summary(),
        "base_rss_mb": base_rss,
        "peak_rss_mb": peak_rss_mb(),
    }


def make_child_resource(*, bulk: bool) -> Any:
    """A ModelResource for Child reading the 学籍 columns, as a developer would write one:
    widgets for the cell formats, ForeignKeyWidget lookups, the derived columns filled in
    before save with the registry's own helpers."""
    from import_export import fields, resources, widgets

    from baoxue.core import crypto
    from baoxue.core.text import normalize_name, pinyin_keys
    from baoxue.registry.models import Child, Region, School
    from baoxue.registry.services import apply_id_columns, id_columns

    township = Region.objects.get(level="township")

    class IdHashWidget(widgets.CharWidget):
        """The ID number cell as the lookup hash the registry matches on."""

        def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
            text = str(value or "").strip().upper()
            return crypto.lookup_hash(text) if text else ""

    class ChoiceWidget(widgets.CharWidget):
        def __init__(self, choices: dict[str, str]) -> None:
            super().__init__()
            self.choices = choices

        def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
            text = str(value or "").strip()
            if text and text not in self.choices:
                raise ValueError(f"unknown value {text!r}")
            return self.choices.get(text, "")

    class YesNoWidget(widgets.BooleanWidget):
        TRUE_VALUES = ["是", "1", 1, True]
        FALSE_VALUES = ["否", "0", 0, False]
        NULL_VALUES = ["", None]

        def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool:
            return bool(super().clean(value, row, **kwargs))

    class VillageWidget(widgets.ForeignKeyWidget):
        """A village of the township, by name."""

        def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> Any:
            return Region.objects.filter(level="village", parent=township)

    class GroupWidget(widgets.ForeignKeyWidget):
        """A 屯 by name within the row's village (屯 names repeat across villages)."""

        def get_queryset(self, value: Any, row: Any, *args: Any, **kwargs: Any) -> Any:
            return Region.objects.filter(level="group")

        def get_lookup_kwargs(self, value: Any, row: Any, **kwargs: Any) -> dict[str, Any]:
            return {"name": value, "parent__name": row["村"]}

    def f(attribute: str, column: str, widget: Any = None) -> fields.Field:
        return fields.Field(attribute=attribute, column_name=column, widget=widget)

    class ChildResource(resources.ModelResource):
        name = f("name", "姓名")
        id_number_hash = f("id_number_hash", "身份证件号", IdHashWidget())
        sex = f("sex", "性别", ChoiceWidget({"男": "M", "女": "F"}))
        birth_date = f("birth_date", "出生日期", widgets.DateWidget("%Y-%m-%d"))
        ethnicity = f("ethnicity", "民族")
        village = f("village", "村", VillageWidget(Region, "name"))
        group = f("group", "组/屯", GroupWidget(Region, "name"))
        current_school = f("current_school", "学校标识码", widgets.ForeignKeyWidget(School, "code"))
        current_grade = f("current_grade", "年级", widgets.IntegerWidget())
        current_class = f("current_class", "班级")
        address = f("address", "户口所在地")
        left_behind = f(
            "left_behind",
            "是否留守儿童",
            ChoiceWidget(
                {"非留守儿童": "none", "单亲留守儿童": "one_parent", "双亲留守儿童": "both_parents"}
            ),
        )
        has_disability = f("has_disability", "是否残疾人", YesNoWidget())
        is_orphan = f("is_orphan", "是否孤儿", YesNoWidget())
        is_migrant = f("is_migrant", "是否进城务工人员随迁子女", YesNoWidget())

        class Meta:
            model = Child
            import_id_fields = ("id_number_hash",)
            fields = (
                "name", "id_number_hash", "sex", "birth_date", "ethnicity", "village", "group",
                "current_school", "current_grade", "current_class", "address", "left_behind",
                "has_disability", "is_orphan", "is_migrant",
            )  # fmt: skip
            use_transactions = True
            use_bulk = bulk
            batch_size = 1000
            skip_diff = bulk

        def get_queryset(self) -> Any:
            # The instance loader looks each row up by id_number_hash. Its index is partial
            # (WHERE NOT id_number_hash = ''), which SQLite uses only when the query repeats
            # that condition; without it every row scans the table and the run is quadratic
            # on SQLite. A careful developer would add it, so the peer gets it too.
            return Child.objects.exclude(id_number_hash="")

        def __init__(self) -> None:
            super().__init__()
            self.done = 0
            self.started = time.perf_counter()
            self.last = self.started

        def before_save_instance(self, instance: Any, row: Any, **kwargs: Any) -> None:
            # The columns build_child derives, with the registry's own helpers.
            apply_id_columns(
                instance, id_columns(str(row["身份证件号"]), birth_date_hint=instance.birth_date)
            )
            instance.name = normalize_name(instance.name)
            instance.name_pinyin, instance.name_initials = pinyin_keys(instance.name)
            instance.township_id = township.pk
            instance.county_id = township.parent_id
            instance.school_status = Child.SchoolStatus.IN_SCHOOL

        def after_import_row(self, row: Any, row_result: Any, **kwargs: Any) -> None:
            self.done += 1
            now = time.perf_counter()
            if now - self.last >= 10:
                self.last = now
                rate = self.done / (now - self.started)
                log(f"import-export: {self.done:,} rows, {rate:,.0f} rows/s")

    return ChildResource


if __name__ == "__main__":
    sys.exit(main())
