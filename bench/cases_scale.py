"""Cases at scale: a million children, fifty thousand cases, the case pages and the 辍学台账.

What it measures
    The issue's target: "With 1,000,000 children and 50,000 cases on PostgreSQL: the caseload
    page (/cases/mine/), the case list with filters (/cases/?...) and the dashboard
    (/cases/dashboard/) each p95 under 200 ms over 200 requests; the 辍学台账 export of all
    cases (/cases/ledger.xlsx) under 15 s with flat memory."

    For each backend (PostgreSQL by default; SQLite for a smoke run) the script loads N children
    with registry_scale's loader (households, guardians, enrollments, events; COPY on
    PostgreSQL), then M cases (default 50,000) with their 双线四包 people, 劝返 attempts,
    placements, legal documents, follow-ups and history, and times, over --requests requests
    each, the SERVER time (time.perf_counter() around django.test.Client.get in-process) of:

      1. 我的案件 /cases/mine/ for village cadres (government line, level 3) and for teachers
         (education line, level 4), ten different users of each, pages 1 and 2;
      2. the case list /cases/?... for the township office and for the county inspector: no
         filter, ?status= (varied), ?village= (varied), ?overdue=1, ?unassigned=1,
         ?key_group=1, ?name= (a surname, varied) and ?page=2..5;
      3. the dashboard /cases/dashboard/ for the office and for the county inspector.

    Target p95 < 200 ms. The number of SQL queries of each page is counted once with
    CaptureQueriesContext. The pages are measured in a fresh process, as a web worker after it
    starts: what the loader leaves in memory would lengthen Python's full garbage collections
    (they visit every tracked object), which show in the p95; the notes give the number of
    tracked objects and of full collections while measuring. Like a served instance, that
    process imports baoxue.wsgi first, whose gc.freeze() keeps what start-up loaded out of the
    full collections (--no-gc-freeze measures without it).

    Then the 辍学台账 of every case the user sees (cases.ledger.write over
    selectors.case_list(user, CaseFilters(status="all")), what the background export of
    /cases/ behind 导出辍学台账 runs) for the office (its township's cases) and for the
    county inspector (all M cases: the issue's "all cases" figure), each in a fresh process:
    after a small warm-up export of one village (imports, translations, the connection) the RSS
    of the process is sampled every 5 ms by a thread while the ledger is written; the table
    shows the seconds and the peak RSS above the level before the export. The two exports
    differ ~40-fold in rows: similar peaks mean flat memory. Targets: < 15 s, peak RSS growth
    < 150 MB. The xlsx is read back with python_calamine and must hold the expected number of
    cases plus the 2 header rows.

How the cases are made
    Children aged 6–16 are drawn at random over the whole county (so each township and village
    gets its share); 2% of the cases are a second case of a child whose first case is closed or
    dismissed (再次辍学: the partial unique constraint allows one open case per child). Each
    case copies the child's township, village and current school, as case_open does. The
    status mix is realistic for a county some months into the work: suspected 12%, verifying
    8%, confirmed 8%, persuading 22%, placed 8%, follow_up 17%, closed 20%, dismissed 5%;
    opened over the last 16 weeks (older for cases further along); next_due as refresh_due
    would keep it (from the last attempt's next date, a notice's deadline, the first follow-up
    not done, an exemption's review), about a quarter of those in the past (overdue);
    key_group for 30%. 双线四包: 8 rows per case (both lines, levels 1–4); government level 3
    names one of a few hundred village cadres (each covers two villages, so about 200 cases),
    education level 4 one of the teachers of the case's township (about 150 cases each); 40%
    of the suspected cases have no one yet and 20% only the government line (what
    ?unassigned=1 finds; both_lines_named is set to match, where the model has it); 10% of the
    assigned cases also have an ended row (a cadre replaced).
    Cases, people and records are written with COPY (PostgreSQL) or executemany (SQLite) in
    batches, then analysed.

How to run
    .venv/bin/python bench/cases_scale.py --children 50000 --cases 2500 --requests 20   # smoke
    .venv/bin/python bench/cases_scale.py --backend sqlite --children 50000 --cases 2500
    .venv/bin/python bench/cases_scale.py                     # 1M children, 50k cases, 200 req.

    A full run takes about 20–30 minutes on two cores (most of it loading the registry). A
    measure stops early after --max-seconds (n then says how many requests ran). --commit
    benchmarks a commit's src/ rather than the working tree that others may be editing.

    PostgreSQL uses the database baoxue_bench_cases on 127.0.0.1:5432 as user postgres
    (dropped and created by the script; a name of its own, so registry_scale can run at the
    same time); SQLite a data dir in a temporary folder. Both are removed afterwards unless
    --keep is given. Each backend runs in a subprocess (Django reads its settings once), the
    pages and each export in fresh subprocesses of that; they report JSON and the parent prints
    one table.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

# bench/ is on sys.path when a script runs: the registry loader and the shared helpers.
import registry_scale
from _common import log, pg_drop_database, source_tree

PG_SERVER = registry_scale.PG_SERVER
PG_DATABASE = "baoxue_bench_cases"
TARGET_MS = 200.0
EXPORT_TARGET_S = 15.0
MEMORY_TARGET_MB = 150.0
SEED = 2026
BATCH = 5000  # cases per written batch (with all their rows)

STATUS_MIX = {
    "suspected": 12,
    "verifying": 8,
    "confirmed": 8,
    "persuading": 22,
    "placed": 8,
    "follow_up": 17,
    "closed": 20,
    "dismissed": 5,
}
PATH = ["suspected", "verifying", "confirmed", "persuading", "placed", "follow_up", "closed"]
FINISHED = {"closed", "dismissed"}
WINDOW_DAYS = 16 * 7
# A case further along was opened longer ago (days).
MIN_AGE = {
    "suspected": 0,
    "verifying": 1,
    "dismissed": 3,
    "confirmed": 3,
    "persuading": 7,
    "placed": 14,
    "follow_up": 28,
    "closed": 56,
}
REASONS = ["learning", "work", "marriage", "illness", "disability", "family", "distance", "other"]
MEASURES = ["subsidy", "fees", "class_placement", "psychological", "boarding", "tutoring"]
DISMISS = ["enrolled_elsewhere", "moved_away", "data_error", "over_age"]
CASES_PER_CADRE_VILLAGES = 2  # each cadre is named on the cases of two villages
CASES_PER_TEACHER = 150


# ---------------------------------------------------------------------------------------------
# Parent: run each backend in a subprocess and print one table
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measure")
    parser.add_argument("--townships", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2, help="processes building townships")
    parser.add_argument(
        "--no-guardians",
        action="store_true",
        help="skip guardian rows to load faster (the ledger then has no guardian columns)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="stop a measure early (fewer than --requests) once it has run this long",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="measure without importing baoxue.wsgi first (whose gc.freeze() keeps what "
        "start-up loaded out of full garbage collections, as in a served instance)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--commit",
        help="benchmark this commit's src/ (extracted with git archive) instead of the working "
        "tree, so that edits made during a long run cannot change what is measured",
    )
    parser.add_argument("--_child-backend", dest="child_backend", help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result_path", help=argparse.SUPPRESS)
    parser.add_argument("--_pages", dest="pages", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_export", dest="export_user", help=argparse.SUPPRESS)
    parser.add_argument("--_warm-village", dest="warm_village", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.export_user:
        return run_export(args)
    if args.pages:
        return run_pages(args)
    if args.child_backend:
        return run_backend(args)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    started = time.perf_counter()
    with source_tree(args.commit) as extra_env:
        for backend in backends:
            result = spawn_backend(backend, args, extra_env)
            if result is not None:
                results.append(result)
    print_report(results, args, time.perf_counter() - started)
    return 0 if len(results) == len(backends) else 1


def spawn_backend(
    backend: str, args: argparse.Namespace, extra_env: dict[str, str]
) -> dict[str, Any] | None:
    workdir = Path(tempfile.mkdtemp(prefix=f"baoxue-bench-cases-{backend}-"))
    (workdir / "data").mkdir()
    env = {
        **os.environ,
        **extra_env,
        "DJANGO_SETTINGS_MODULE": "baoxue.settings",
        "BAOXUE_DATA_DIR": str(workdir / "data"),
        "BAOXUE_STATIC_ROOT": str(workdir / "static"),
        "BAOXUE_FIELD_KEY": registry_scale.FIELD_KEY,
        "BAOXUE_SECRET_KEY": registry_scale.SECRET_KEY,
        "BAOXUE_DEBUG": "0",
        "BAOXUE_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if backend == "postgres":
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
    result_path = workdir / "result.json"
    forwarded = [
        "--children", str(args.children),
        "--cases", str(args.cases),
        "--requests", str(args.requests),
        "--townships", str(args.townships),
        "--workers", str(args.workers),
        "--max-seconds", str(args.max_seconds),
    ]  # fmt: skip
    if args.no_guardians:
        forwarded.append("--no-guardians")
    if args.no_gc_freeze:
        forwarded.append("--no-gc-freeze")
    command = [
        sys.executable, __file__, *forwarded,
        "--_child-backend", backend, "--_result", str(result_path),
    ]  # fmt: skip
    print(
        f"== {backend}: {args.children:,} children, {args.cases:,} cases, work dir {workdir}",
        file=sys.stderr,
    )
    try:
        code = subprocess.run(command, env=env, check=False).returncode
        if code != 0 or not result_path.exists():
            print(f"== {backend}: failed (exit {code})", file=sys.stderr)
            return None
        result: dict[str, Any] = json.loads(result_path.read_text())
        return result
    finally:
        if args.keep:
            where = f" and {PG_SERVER}/{PG_DATABASE}" if backend == "postgres" else ""
            print(f"== {backend}: kept {workdir}{where}", file=sys.stderr)
        else:
            if backend == "postgres":
                drop_pg_database()
            shutil.rmtree(workdir, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(results: list[dict[str, Any]], args: argparse.Namespace, total: float) -> None:
    print()
    print(
        f"Cases at scale: {args.children:,} children, {args.cases:,} cases, "
        f"{args.townships} townships, {args.requests} requests per measure "
        "(server time, in-process django.test.Client)"
        + (", without baoxue.wsgi's gc.freeze()" if args.no_gc_freeze else "")
    )
    print()
    versions = sorted({r["source"] for r in results})
    print(
        f"Code: {', '.join(versions)}"
        + (" (differs between backends!)" if len(versions) > 1 else "")
    )
    print(f"Total run time: {total / 60:.1f} min")
    print()
    print("Load")
    header = f"{'backend':<9} {'what':<9} {'rows':>10} {'seconds':>8}  breakdown"
    print(header)
    print("-" * len(header))
    for r in results:
        for what in ("registry", "cases"):
            load = r[what]
            rows = sum(load["rows"].values())
            parts = ", ".join(f"{k} {v:.0f}s" for k, v in load["phases"].items())
            print(f"{r['backend']:<9} {what:<9} {rows:>10,} {load['seconds']:>8.1f}  {parts}")
    for r in results:
        for what in ("registry", "cases"):
            counts = ", ".join(f"{k} {v:,}" for k, v in r[what]["rows"].items())
            print(f"  {r['backend']} {what}: {counts}")
        print(f"  {r['backend']} users: {r['users']}")
    print()
    print("Pages")
    header = (
        f"{'backend':<9} {'measure':<42} {'n':>4} {'median ms':>9} {'p95 ms':>7} "
        f"{'max ms':>7} {'queries':>7} {'full GCs':>10} {'p95 w/o GC':>10} {'target':>6} "
        f"{'result':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for m in r["measures"]:
            gcs = f"{m['full_gcs']}x{m['gc_pause_ms']:.0f}ms" if m["full_gcs"] else "0"
            print(
                f"{r['backend']:<9} {m['label']:<42} {m['n']:>4} {m['median_ms']:>9.1f} "
                f"{m['p95_ms']:>7.1f} {m['max_ms']:>7.1f} {m['queries']:>7} {gcs:>10} "
                f"{m['p95_without_gc_ms']:>10.1f} {'<' + format(TARGET_MS, '.0f'):>6} "
                f"{verdict(m['p95_ms'] < TARGET_MS):>6}"
            )
    print(
        "  full GCs: Python's generation-2 garbage collections during the timed requests "
        "(count x median pause); p95 w/o GC: the p95 of the requests without one."
    )
    print()
    print("辍学台账 export of all the user's cases (cases.ledger.write, each in a fresh process)")
    header = (
        f"{'backend':<9} {'user':<18} {'cases':>7} {'xlsx rows':>9} {'seconds':>8} "
        f"{'peak RSS +MB':>12} {'MB':>6} {'target':>12} {'result':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for e in r["exports"]:
            ok = (
                e["seconds"] < EXPORT_TARGET_S
                and e["peak_growth_mb"] < MEMORY_TARGET_MB
                and e["rows_ok"]
            )
            target = f"<{EXPORT_TARGET_S:.0f}s,<{MEMORY_TARGET_MB:.0f}MB"
            print(
                f"{r['backend']:<9} {e['label']:<18} {e['cases']:>7,} {e['xlsx_rows']:>9,} "
                f"{e['seconds']:>8.1f} {e['peak_growth_mb']:>12.1f} {e['file_mb']:>6.1f} "
                f"{target:>12} {verdict(ok):>6}"
            )
    print(
        "  peak RSS +MB: the highest RSS while exporting minus the RSS just before it; "
        "MB: the size of the xlsx; xlsx rows: read back with python_calamine (cases + 2)."
    )
    for r in results:
        for note in r.get("notes", []):
            print(f"note ({r['backend']}): {note}")


def drop_pg_database() -> None:
    pg_drop_database(PG_SERVER, PG_DATABASE)


# ---------------------------------------------------------------------------------------------
# Child: one backend, from an empty database to the measured pages and exports
# ---------------------------------------------------------------------------------------------
def run_backend(args: argparse.Namespace) -> int:
    backend = args.child_backend
    source, migrate_seconds = registry_scale.prepare_backend(backend, PG_DATABASE)

    registry = registry_scale.load_registry(args)
    registry["phases"] = {"migrate": migrate_seconds, **registry["phases"]}
    log(f"registry loaded in {registry['seconds']:.1f}s: {registry['rows']}")

    office, township, inspector, _county = registry_scale.make_users()
    cases = load_cases(args, random.Random(SEED))
    users, case_notes = cases.pop("users"), cases.pop("notes")
    log(f"cases loaded in {cases['seconds']:.1f}s: {cases['rows']}")

    measures, notes = pages_in_subprocess(args)
    exports = [
        export_in_subprocess(args, "township office", office, township),
        export_in_subprocess(args, "county inspector", inspector, township),
    ]
    result = {
        "backend": backend,
        "source": source,
        "registry": registry,
        "cases": cases,
        "users": users,
        "measures": measures,
        "exports": exports,
        "notes": case_notes + notes,
    }
    Path(args.result_path).write_text(json.dumps(result, indent=1, default=str))
    return 0


# --- writing rows ----------------------------------------------------------------------------
class RowWriter:
    """Writes plain dict rows of a model with COPY (PostgreSQL) or executemany (SQLite).

    Columns the row leaves out get the field's default, so a field added to a model later does
    not break the script. Values are converted as the backend stores them (UUIDs as hex text
    and datetimes as ISO text on SQLite, JSON as text on both)."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.vendor = connection.vendor
        self.written: Counter[str] = Counter()

    def _convert(self, f: Any) -> Any:
        from django.db import models

        ops = self.connection.ops
        if isinstance(f, models.JSONField):
            return lambda v: json.dumps(v, ensure_ascii=False)
        if self.vendor == "postgresql":
            return lambda v: v
        if isinstance(f, models.UUIDField):
            return lambda v: v.hex if v is not None else None
        if isinstance(f, models.DateTimeField):
            return ops.adapt_datetimefield_value
        if isinstance(f, models.DateField):
            return ops.adapt_datefield_value
        return lambda v: v

    def write(self, model: Any, rows: list[dict[str, Any]], *, with_id: bool = False) -> None:
        if not rows:
            return
        fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        convert = [self._convert(f) for f in fields]
        values = []
        for row in rows:
            out = []
            for f, conv in zip(fields, convert, strict=True):
                value = row[f.attname] if f.attname in row else f.get_default()
                out.append(None if value is None else conv(value))
            values.append(out)
        quote = self.connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(f.column) for f in fields)
        with self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row_values in values:
                        copy.write_row(row_values)
            else:
                marks = ", ".join(["%s"] * len(fields))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
        self.written[model._meta.model_name] += len(rows)


# --- users named on cases --------------------------------------------------------------------
@dataclass
class People:
    """The users and names the cases are given: a cadre per pair of villages, teachers per
    township, and the places' names for the people who are not users."""

    cadre_of_village: dict[int, dict[str, Any]]
    teachers_of_township: dict[int, list[dict[str, Any]]]
    township_number: dict[int, int]
    village_name: dict[int, str]
    school_name: dict[int, str]
    cadre_ids: list[int]
    teacher_ids: list[int]


def make_people(children_by_township: Counter[int]) -> People:
    from django.contrib.auth.hashers import make_password

    from baoxue.accounts.models import Role, RoleAssignment, User
    from baoxue.registry.models import Region, School

    townships = list(Region.objects.filter(level="township").order_by("code"))
    township_number = {t.pk: n + 1 for n, t in enumerate(townships)}
    villages = list(Region.objects.filter(level="village").order_by("code").values("id", "name"))
    village_name = {v["id"]: v["name"] for v in villages}
    schools = list(School.objects.order_by("code").values("id", "name", "township_id"))
    school_name = {s["id"]: s["name"] for s in schools}
    schools_of: dict[int, list[int]] = defaultdict(list)
    for s in schools:
        if s["township_id"]:
            schools_of[s["township_id"]].append(s["id"])
    # Nobody logs in with a password here (force_login): one unusable hash for all, instead of
    # a PBKDF2 round per user.
    password = make_password(None)
    users: list[Any] = []
    grants: list[tuple[str, str, int]] = []  # username, role, region or school id
    cadre_villages: dict[str, list[int]] = {}
    n_cadres = max(1, len(villages) // CASES_PER_CADRE_VILLAGES)
    for k in range(n_cadres):
        mine = villages[k * CASES_PER_CADRE_VILLAGES : (k + 1) * CASES_PER_CADRE_VILLAGES]
        if k == n_cadres - 1:
            mine = villages[k * CASES_PER_CADRE_VILLAGES :]
        username = f"bench_cadre_{k + 1:03d}"
        users.append(
            User(
                username=username,
                password=password,
                display_name=f"村干部{k + 1:03d}",
                phone=f"139{k + 1:08d}",
                unit=mine[0]["name"],
            )
        )
        cadre_villages[username] = [v["id"] for v in mine]
        grants += [(username, Role.VILLAGE, v["id"]) for v in mine]
    teacher_township: dict[str, int] = {}
    number = 0
    for t in townships:
        count = max(1, round(children_by_township.get(t.pk, 0) / CASES_PER_TEACHER))
        for j in range(count):
            number += 1
            username = f"bench_teacher_{number:03d}"
            users.append(
                User(
                    username=username,
                    password=password,
                    display_name=f"教师{number:03d}",
                    phone=f"138{number:08d}",
                )
            )
            teacher_township[username] = t.pk
            if schools_of.get(t.pk):
                school = schools_of[t.pk][j % len(schools_of[t.pk])]
                grants.append((username, Role.TEACHER, school))
    User.objects.bulk_create(users, batch_size=1000)
    ids = dict(User.objects.filter(username__startswith="bench_").values_list("username", "pk"))
    RoleAssignment.objects.bulk_create(
        [
            RoleAssignment(
                user_id=ids[username],
                role=role,
                region_id=place if role == Role.VILLAGE else None,
                school_id=place if role == Role.TEACHER else None,
            )
            for username, role, place in grants
        ],
        batch_size=1000,
    )
    by_name = {u.username: u for u in users}
    cadre_of_village = {}
    for username, village_ids in cadre_villages.items():
        person = {
            "id": ids[username],
            "name": by_name[username].display_name,
            "phone": by_name[username].phone,
        }
        for v in village_ids:
            cadre_of_village[v] = person
    teachers_of_township: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for username, t_id in teacher_township.items():
        teachers_of_township[t_id].append(
            {
                "id": ids[username],
                "name": by_name[username].display_name,
                "phone": by_name[username].phone,
            }
        )
    return People(
        cadre_of_village=cadre_of_village,
        teachers_of_township=dict(teachers_of_township),
        township_number=township_number,
        village_name=village_name,
        school_name=school_name,
        cadre_ids=sorted({p["id"] for p in cadre_of_village.values()}),
        teacher_ids=sorted(ids[u] for u in teacher_township),
    )


# --- the cases -------------------------------------------------------------------------------
def pick_children(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """n distinct children, of compulsory-school age where there are enough."""
    from baoxue.registry.models import Child

    today = date.today()
    young = date(today.year - 17, today.month, 1)
    old = date(today.year - 6, today.month, 1)
    ids = list(
        Child.objects.filter(birth_date__gt=young, birth_date__lte=old)
        .values_list("id", flat=True)
        .iterator(chunk_size=20_000)
    )
    if len(ids) < n:
        ids = list(Child.objects.values_list("id", flat=True).iterator(chunk_size=20_000))
    chosen = sorted(rng.sample(ids, min(n, len(ids))))
    del ids
    rows: list[dict[str, Any]] = []
    for start in range(0, len(chosen), 5000):
        rows += list(
            Child.objects.filter(pk__in=chosen[start : start + 5000]).values(
                "id", "township_id", "village_id", "current_school_id", "name"
            )
        )
    rng.shuffle(rows)
    return rows


class CaseMaker:
    """Builds the rows of one case and its records, consistent with what the services would
    have written along the way."""

    def __init__(self, rng: random.Random, people: People) -> None:
        from django.utils import timezone

        self.rng = rng
        self.people = people
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.zone = timezone.get_current_timezone()

    def _at(self, day_offset: float) -> datetime:
        """A moment `day_offset` days before now, in working hours."""
        moment = self.now - timedelta(days=day_offset)
        local = moment.astimezone(self.zone)
        hour = self.rng.randint(8, 18)
        local = local.replace(hour=hour, minute=self.rng.randint(0, 59), second=0)
        return min(local, self.now)

    def make(
        self,
        case_id: int,
        child: dict[str, Any],
        status: str,
        *,
        after: datetime | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        if after is not None:
            age = max(0.0, (self.now - after).total_seconds() / 86400 - 1)
            opened_at = self._at(rng.uniform(0, age))
        else:
            opened_at = self._at(rng.uniform(MIN_AGE[status], WINDOW_DAYS))
        age_days = max(1, (self.now - opened_at).days)
        if status == "dismissed":
            steps = ["verifying", "dismissed"] if rng.random() < 0.7 else ["dismissed"]
        else:
            steps = PATH[1 : PATH.index(status) + 1]
        # Transition times, spread over the case's life so far (closed: before closed_at).
        span = age_days * (rng.uniform(0.5, 0.95) if status in FINISHED else 1.0)
        marks = sorted(rng.uniform(0.02, 1.0) * span for _ in steps)
        times = [min(opened_at + timedelta(days=m), self.now) for m in marks]
        closed_at = times[-1] if status in FINISHED else None
        confirmed = "confirmed" in steps
        case: dict[str, Any] = {
            "id": case_id,
            "public_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "child_id": child["id"],
            "kind": (
                ("dropped_out" if rng.random() < 0.8 else "never_enrolled")
                if confirmed
                else "to_verify"
            ),
            "status": status,
            "source": "reconcile" if rng.random() < 0.85 else "person",
            "category": "",
            "basis": "学籍注销未转学" if rng.random() < 0.5 else "连续缺勤超过20天",
            "evidence": {},
            "evidence_key": "",
            "key_group": rng.random() < 0.3,
            "township_id": child["township_id"],
            "village_id": child["village_id"],
            "school_id": child["current_school_id"],
            "began_on": None,
            "reasons": [],
            "dismiss_reason": rng.choice(DISMISS) if status == "dismissed" else "",
            "measures": [],
            "plan_note": "",
            "close_approver": "乡控辍办主任" if status == "closed" else "",
            "close_evidence": "返校后连续出勤 8 周" if status == "closed" else "",
            "closed_by_id": None,
            "next_due": None,
            "opened_at": opened_at,
            "closed_at": closed_at,
            "updated_at": times[-1] if times else opened_at,
            "version": 1 + len(steps),
        }
        if confirmed:
            began = (opened_at - timedelta(days=rng.randint(10, 300))).date()
            case["began_on"] = began.replace(day=1)
            case["reasons"] = rng.sample(REASONS, rng.randint(1, 3))
        if "persuading" in steps:
            case["measures"] = rng.sample(MEASURES, rng.randint(1, 3))
            case["plan_note"] = "落实资助，班主任每周家访"
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        events = rows["caseevent"]
        events.append(self._event(case_id, opened_at, "opened", "", "", {"note": ""}))
        before = "suspected"
        for step, at in zip(steps, times, strict=True):
            events.append(self._event(case_id, at, "transition", before, step, {}))
            before = step
        self._people(case, rows, status)
        due: list[date] = []
        step_time = dict(zip(steps, times, strict=True))
        if confirmed:
            self._attempts(case, rows, status, step_time, due)
        if status in {"placed", "follow_up", "closed"}:
            self._placement(case, rows, status, step_time, due)
        if status in {"follow_up", "closed"}:
            self._follow_ups(case, rows, status, step_time, due)
        if status not in FINISHED and due:
            case["next_due"] = min(due)
        rows["case"].append(case)
        return rows

    def _event(
        self, case_id: int, at: datetime, kind: str, a: str, b: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "case_id": case_id,
            "actor_id": None,
            "at": at,
            "kind": kind,
            "from_status": a,
            "to_status": b,
            "data": data,
        }

    def _people(self, case: dict[str, Any], rows: dict[str, list[Any]], status: str) -> None:
        rng, p = self.rng, self.people
        lines = ["government", "education"]
        if status == "suspected":
            draw = rng.random()
            lines = [] if draw < 0.4 else ["government"] if draw < 0.6 else lines
        elif status == "verifying" and rng.random() < 0.1:
            lines = ["government"]
        # Kept by workflow.assign where the model has it (未落实包保 as an indexed column);
        # a model without the field ignores the key.
        case["both_lines_named"] = len(lines) == 2
        if not lines:
            return
        at = min(case["opened_at"] + timedelta(days=rng.uniform(0.1, 3)), self.now)
        t = p.township_number.get(case["township_id"], 0)
        village = p.village_name.get(case["village_id"], "")
        school = p.school_name.get(case["school_id"], "")
        cadre = p.cadre_of_village.get(case["village_id"])
        teachers = p.teachers_of_township.get(case["township_id"]) or [None]
        teacher = teachers[case["child_id"] % len(teachers)]
        named = {
            ("government", 1): ("覃县长", "副县长", "县人民政府", "0772-5120001", None),
            ("government", 2): (f"潘乡干部{t:02d}", "包村干部", "乡人民政府", "", None),
            ("government", 3): (
                (cadre["name"], "村干部", village, cadre["phone"], cadre["id"])
                if cadre
                else ("村干部", "村干部", village, "", None)
            ),
            ("government", 4): (f"组长{case['child_id'] % 97:02d}", "组长", village, "", None),
            ("education", 1): ("梁股长", "控辍股长", "县教育局", "0772-5120003", None),
            ("education", 2): (f"{school or '中心校'}校长", "校长", school, "", None),
            ("education", 3): (f"班主任{case['child_id'] % 89:02d}", "班主任", school, "", None),
            ("education", 4): (
                (teacher["name"], "教师", school, teacher["phone"], teacher["id"])
                if teacher
                else ("教师", "教师", school, "", None)
            ),
        }
        for line in lines:
            for level in (1, 2, 3, 4):
                name, role, unit, phone, user_id = named[(line, level)]
                rows["responsibility"].append(
                    {
                        "case_id": case["id"],
                        "line": line,
                        "level": level,
                        "user_id": user_id,
                        "name": name,
                        "role": role,
                        "unit": unit,
                        "phone": phone,
                        "assigned_at": at,
                        "ended_at": None,
                    }
                )
        rows["caseevent"].append(
            self._event(case["id"], at, "responsibility", "", "", {"lines": lines})
        )
        if len(lines) == 2 and rng.random() < 0.1:
            # A cadre replaced: the old row is ended, not changed (another cadre's user).
            other = p.cadre_ids[rng.randrange(len(p.cadre_ids))] if p.cadre_ids else None
            rows["responsibility"].append(
                {
                    "case_id": case["id"],
                    "line": "government",
                    "level": 3,
                    "user_id": other,
                    "name": "原村干部",
                    "role": "村干部",
                    "unit": village,
                    "phone": "",
                    "assigned_at": at - timedelta(hours=1),
                    "ended_at": at,
                }
            )

    def _attempts(
        self,
        case: dict[str, Any],
        rows: dict[str, list[Any]],
        status: str,
        step_time: dict[str, datetime],
        due: list[date],
    ) -> None:
        rng = self.rng
        n = rng.randint(0, 1) if status == "confirmed" else rng.randint(1, 3)
        start = step_time["confirmed"].astimezone(self.zone).date()
        end = (case["closed_at"] or self.now).astimezone(self.zone).date()
        days = sorted(
            start + timedelta(days=rng.randint(0, max(0, (end - start).days))) for _ in range(n)
        )
        returned = status in {"placed", "follow_up", "closed"}
        for i, on in enumerate(days):
            last = i == n - 1
            if last and returned:
                result = "returned"
            else:
                result = rng.choice(["considering", "refused", "not_reached", "agreed"])
            next_date = None
            if last and not returned:
                # About a quarter of the next steps are in the past: overdue.
                next_date = self.today + timedelta(days=rng.randint(-10, 30))
                due.append(next_date)
            elif not last:
                next_date = on + timedelta(days=7)
            rows["returnattempt"].append(
                {
                    "case_id": case["id"],
                    "attempted_on": on,
                    "method": rng.choice(["home_visit", "home_visit", "phone", "at_school"]),
                    "people": "包村干部、班主任",
                    "met": "母亲",
                    "said": "讲解义务教育法，了解辍学原因",
                    "offered": "落实资助" if rng.random() < 0.5 else "",
                    "result": result,
                    "next_step": "再次家访" if next_date else "",
                    "next_date": next_date,
                    "token": None,
                    "created_by_id": None,
                    "created_at": min(self._at((self.today - on).days), self.now),
                }
            )
        if status == "persuading" and rng.random() < 0.15:
            issued = days[0] if days else start
            deadline = issued + timedelta(days=15)
            rows["escalationdocument"].append(
                {
                    "case_id": case["id"],
                    "kind": "school_report",
                    "number": f"校报〔{issued.year}〕{case['id'] % 1000}号",
                    "issuer": "中心校",
                    "issued_on": issued,
                    "deadline": None,
                    "served_on": None,
                    "outcome": "",
                    "token": None,
                    "created_by_id": None,
                    "created_at": self.now,
                }
            )
            if rng.random() < 0.5:
                rows["escalationdocument"].append(
                    {
                        "case_id": case["id"],
                        "kind": "return_notice",
                        "number": f"控辍〔{issued.year}〕{case['id'] % 1000}号",
                        "issuer": "乡人民政府",
                        "issued_on": issued + timedelta(days=1),
                        "deadline": deadline,
                        "served_on": issued + timedelta(days=2),
                        "outcome": "",
                        "token": None,
                        "created_by_id": None,
                        "created_at": self.now,
                    }
                )
                due.append(deadline)

    def _placement(
        self,
        case: dict[str, Any],
        rows: dict[str, list[Any]],
        status: str,
        step_time: dict[str, datetime],
        due: list[date],
    ) -> None:
        rng = self.rng
        on = step_time["placed"].astimezone(self.zone).date()
        draw = rng.random()
        kind = (
            "back_in_school"
            if draw < 0.8
            else "with_class"
            if draw < 0.87
            else "home_teaching"
            if draw < 0.93
            else "exempt"
        )
        review = on + timedelta(days=rng.randint(60, 180)) if kind == "exempt" else None
        if review is not None and status != "closed":
            due.append(review)
        rows["placement"].append(
            {
                "case_id": case["id"],
                "kind": kind,
                "school_id": case["school_id"]
                if kind in {"back_in_school", "with_class"}
                else None,
                "grade": rng.randint(3, 9) if kind in {"back_in_school", "with_class"} else None,
                "placed_on": on,
                "application": "监护人申请" if kind == "exempt" else "",
                "conclusion": "医学鉴定结论" if kind == "exempt" else "",
                "approver": "县教育局" if kind == "exempt" else "",
                "review_date": review,
                "created_by_id": None,
                "created_at": step_time["placed"],
            }
        )

    def _follow_ups(
        self,
        case: dict[str, Any],
        rows: dict[str, list[Any]],
        status: str,
        step_time: dict[str, datetime],
        due: list[date],
    ) -> None:
        rng = self.rng
        start = step_time["follow_up"].astimezone(self.zone).date()
        # The schedule the workflow itself makes on entering follow-up (settings).
        from baoxue.cases.workflow import follow_up_schedule

        days = follow_up_schedule(start)
        pending = False
        for on in days:
            done = status == "closed" or (on <= self.today and not pending)
            if done and status != "closed" and rng.random() < 0.15:
                done = False  # a visit not made in time: overdue
            if not done and not pending:
                pending = True
                due.append(on)
            rows["followup"].append(
                {
                    "case_id": case["id"],
                    "due_on": on,
                    "done_on": on if done else None,
                    "attendance": rng.choice(["normal", "normal", "some_absence"]) if done else "",
                    "absent_days": None,
                    "note": "在校正常" if done else "",
                    "recorded_by_id": None,
                }
            )


def load_cases(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    from django.db import connection, transaction

    from baoxue.cases.models import (
        Case,
        CaseEvent,
        EscalationDocument,
        FollowUp,
        Placement,
        Responsibility,
        ReturnAttempt,
    )

    assert not Case.objects.exists(), "the registry load made cases: expected none"
    phases: dict[str, float] = {}
    started = time.perf_counter()
    mark = time.perf_counter()
    repeats = args.cases // 50  # 2%: a second case of a child whose first one is finished
    children = pick_children(rng, args.cases - repeats)
    statuses = rng.choices(list(STATUS_MIX), weights=list(STATUS_MIX.values()), k=len(children))
    phases["pick children"] = time.perf_counter() - mark

    mark = time.perf_counter()
    per_township = Counter(c["township_id"] for c in children)
    people = make_people(per_township)
    phases["users"] = time.perf_counter() - mark

    mark = time.perf_counter()
    maker = CaseMaker(rng, people)
    writer = RowWriter()
    models = {
        "case": Case,
        "responsibility": Responsibility,
        "returnattempt": ReturnAttempt,
        "escalationdocument": EscalationDocument,
        "placement": Placement,
        "followup": FollowUp,
        "caseevent": CaseEvent,
    }
    work: list[tuple[dict[str, Any], str, datetime | None]] = list(
        zip(children, statuses, [None] * len(children), strict=True)
    )
    case_id = 0
    finished: list[tuple[dict[str, Any], datetime]] = []
    while work:
        batch, work = work[:BATCH], work[BATCH:]
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for child, status, after in batch:
            case_id += 1
            made = maker.make(case_id, child, status, after=after)
            for name, items in made.items():
                rows[name] += items
            if after is None and status in FINISHED:
                finished.append((child, made["case"][0]["closed_at"]))
        with transaction.atomic():
            for name, model in models.items():
                writer.write(model, rows[name], with_id=name == "case")
        if not work and repeats:
            # 再次辍学: the second, open case of children whose first case is finished.
            rng.shuffle(finished)
            work = [
                (child, rng.choice(["suspected", "suspected", "verifying"]), closed_at)
                for child, closed_at in finished[:repeats]
            ]
            repeats = 0
        log(f"cases: {case_id:,} written")
    phases["write"] = time.perf_counter() - mark

    mark = time.perf_counter()
    registry_scale.reset_sequences(list(models.values()))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = [m._meta.db_table for m in models.values()]
            tables += ["accounts_user", "accounts_roleassignment"]
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA optimize")
    phases["analyze"] = time.perf_counter() - mark
    seconds = time.perf_counter() - started

    if any(f.name == "both_lines_named" for f in Case._meta.concrete_fields):
        # The kept column must say what the people rows say, or ?unassigned=1 measures nothing.
        from django.db.models import Exists, OuterRef

        active = Responsibility.objects.filter(case=OuterRef("pk"), ended_at=None)
        both = Case.objects.filter(
            Exists(active.filter(line="government")), Exists(active.filter(line="education"))
        )
        assert both.count() == Case.objects.filter(both_lines_named=True).count()
    counts = Counter(Case.objects.values_list("status", flat=True))
    mix = ", ".join(f"{s} {counts.get(s, 0):,}" for s in STATUS_MIX)
    notes = [f"case statuses: {mix}"]
    written = dict(writer.written)
    assert written["case"] == args.cases, (written["case"], args.cases)
    return {
        "seconds": seconds,
        "phases": phases,
        "rows": {
            "cases": written.get("case", 0),
            "responsibilities": written.get("responsibility", 0),
            "attempts": written.get("returnattempt", 0),
            "documents": written.get("escalationdocument", 0),
            "placements": written.get("placement", 0),
            "follow-ups": written.get("followup", 0),
            "events": written.get("caseevent", 0),
        },
        "users": (
            f"{len(people.cadre_ids)} village cadres (government level 3), "
            f"{len(people.teacher_ids)} teachers (education level 4), a township office, "
            "a county inspector"
        ),
        "notes": notes,
    }


# --- measuring pages -------------------------------------------------------------------------
@dataclass
class Measure:
    label: str
    requests: list[tuple[str, str]]  # (client key, url)
    timings_ms: list[float] = field(default_factory=list)
    queries: int = 0
    gc_pauses_ms: list[float] = field(default_factory=list)  # full collections while timed
    without_gc_ms: list[float] = field(default_factory=list)  # requests with no full collection

    def summary(self) -> dict[str, Any]:
        data = sorted(self.timings_ms)
        calm = sorted(self.without_gc_ms) or data
        return {
            "label": self.label,
            "n": len(data),
            "median_ms": statistics.median(data),
            "p95_ms": p95(data),
            "max_ms": data[-1],
            "queries": self.queries,
            "full_gcs": len(self.gc_pauses_ms),
            "gc_pause_ms": statistics.median(self.gc_pauses_ms) if self.gc_pauses_ms else 0.0,
            "p95_without_gc_ms": p95(calm),
            "example": self.requests[0][1],
        }


def p95(data: list[float]) -> float:
    return data[max(0, math.ceil(0.95 * len(data)) - 1)]


class FullGcWatch:
    """Times Python's full (generation 2) garbage collections, through gc.callbacks."""

    def __init__(self) -> None:
        self.pauses_ms: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._start) * 1000)


def build_measures(
    rng: random.Random, n: int, township: Any, cadres: list[str], teachers: list[str]
) -> list[Measure]:
    from urllib.parse import urlencode

    from baoxue.cases.models import Case
    from baoxue.registry.models import Region

    def cycle(key: str, values: list[dict[str, Any]]) -> list[tuple[str, str]]:
        out = []
        for i in range(n):
            params = values[i % len(values)]
            out.append((key, f"/cases/?{urlencode(params)}" if params else "/cases/"))
        return out

    def users(keys: list[str], url: str, pages: tuple[int, ...] = (1,)) -> list[tuple[str, str]]:
        out = []
        for i in range(n):
            page = pages[(i // len(keys)) % len(pages)]
            out.append((keys[i % len(keys)], url if page == 1 else f"{url}?page={page}"))
        return out

    measures = [
        Measure("caseload /cases/mine/ (10 village cadres)", users(cadres, "/cases/mine/", (1, 2))),
        Measure("caseload /cases/mine/ (10 teachers)", users(teachers, "/cases/mine/", (1, 2))),
    ]
    statuses = [{"status": s} for s in ("persuading", "follow_up", "suspected", "confirmed")]
    for key, label, scope in (
        ("office", "office", {"township": township}),
        ("county", "county", {}),
    ):
        villages = list(
            Region.objects.filter(
                level="village", **({"parent": township} if scope else {})
            ).values_list("id", flat=True)
        )
        rng.shuffle(villages)
        names = list(
            Case.objects.filter(**scope).order_by("?").values_list("child__name", flat=True)[:200]
        )
        # Surnames as often as they occur: common ones match more cases.
        surnames = [name[0] for name in names if name]
        filters: list[tuple[str, list[dict[str, Any]]]] = [
            ("list, no filter", [{}]),
            ("list ?status=<varied>", statuses),
            ("list ?village=<varied>", [{"village": v} for v in villages]),
            ("list ?overdue=1", [{"overdue": 1}]),
            ("list ?unassigned=1", [{"unassigned": 1}]),
            ("list ?key_group=1", [{"key_group": 1}]),
            ("list ?name=<surname>", [{"name": s} for s in surnames]),
            ("list ?page=2..5", [{"page": p} for p in (2, 3, 4, 5)]),
        ]
        measures += [Measure(f"{what} ({label})", cycle(key, values)) for what, values in filters]
    measures += [
        Measure("dashboard (office)", [("office", "/cases/dashboard/")] * n),
        Measure("dashboard (county)", [("county", "/cases/dashboard/")] * n),
    ]
    return measures


def pages_in_subprocess(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure the pages in a fresh process, as a web worker after it starts: what the loader
    leaves in this process's memory would lengthen Python's full garbage collections (they
    visit every tracked object), which show in the p95."""
    result_path = Path(tempfile.mkstemp(prefix="baoxue-bench-pages-", suffix=".json")[1])
    command = [
        sys.executable, __file__, "--_pages",
        "--requests", str(args.requests), "--max-seconds", str(args.max_seconds),
        "--_result", str(result_path), *(["--no-gc-freeze"] if args.no_gc_freeze else []),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)
    return result["measures"], result["notes"]


def run_pages(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from baoxue.accounts.models import RoleAssignment, User

    office = User.objects.get(username="bench_township")
    inspector = User.objects.get(username="bench_county")
    grant = RoleAssignment.objects.select_related("region").get(user=office)
    measures, notes = measure_pages(args, random.Random(SEED + 1), office, grant.region, inspector)
    Path(args.result_path).write_text(json.dumps({"measures": measures, "notes": notes}))
    return 0


def measure_pages(
    args: argparse.Namespace, rng: random.Random, office: Any, township: Any, inspector: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from baoxue.accounts.models import User
    from baoxue.cases.selectors import caseload

    notes: list[str] = []
    clients: dict[str, Any] = {}
    for key, user in (("office", office), ("county", inspector)):
        clients[key] = Client()
        clients[key].force_login(user)
    picked: dict[str, list[str]] = {}
    for kind in ("cadre", "teacher"):
        pool = list(User.objects.filter(username__startswith=f"bench_{kind}_").order_by("pk"))
        chosen = rng.sample(pool, min(10, len(pool)))
        sizes = []
        for user in chosen:
            key = user.username
            clients[key] = Client()
            clients[key].force_login(user)
            sizes.append(caseload(user).count())
        picked[kind] = [u.username for u in chosen]
        notes.append(
            f"caseload sizes (open cases naming the user) of the 10 {kind}s measured: "
            f"{min(sizes)}–{max(sizes)}, median {statistics.median(sizes):.0f}"
        )
    if not args.no_gc_freeze:
        # What a served instance does at start-up (baoxue.wsgi): the application loaded so
        # far is frozen out of the garbage collector's full passes.
        import baoxue.wsgi  # noqa: F401

        notes.append(f"baoxue.wsgi imported: {gc.get_freeze_count():,} objects frozen")
    results = []
    tracked = len(gc.get_objects())
    watch = FullGcWatch()
    gc.callbacks.append(watch)
    for measure in build_measures(rng, args.requests, township, picked["cadre"], picked["teacher"]):
        for key, url in measure.requests[:3]:  # warm up: templates, forms, plans
            response = clients[key].get(url)
            assert response.status_code == 200, (url, response.status_code)
        key, url = measure.requests[0]
        with CaptureQueriesContext(connection) as captured:
            clients[key].get(url)
        measure.queries = len(captured.captured_queries)
        started = time.perf_counter()
        for key, url in measure.requests:
            pauses = len(watch.pauses_ms)
            t0 = time.perf_counter()
            response = clients[key].get(url)
            elapsed = (time.perf_counter() - t0) * 1000
            measure.timings_ms.append(elapsed)
            if len(watch.pauses_ms) > pauses:
                measure.gc_pauses_ms += watch.pauses_ms[pauses:]
            else:
                measure.without_gc_ms.append(elapsed)
            assert response.status_code == 200, (url, response.status_code)
            if time.perf_counter() - started > args.max_seconds:
                notes.append(
                    f"{measure.label}: stopped after {len(measure.timings_ms)} requests "
                    f"(--max-seconds {args.max_seconds:.0f})"
                )
                break
        summary = measure.summary()
        log(
            f"{measure.label}: median {summary['median_ms']:.1f} ms, p95 "
            f"{summary['p95_ms']:.1f} ms, max {summary['max_ms']:.1f} ms, "
            f"{measure.queries} queries, {summary['full_gcs']} full GCs of "
            f"{summary['gc_pause_ms']:.0f} ms, p95 without them "
            f"{summary['p95_without_gc_ms']:.1f} ms, e.g. {url}"
        )
        results.append(summary)
    gc.callbacks.remove(watch)
    notes.append(
        f"measuring process: {tracked:,} objects tracked by the garbage collector at the start, "
        f"{len(gc.get_objects()):,} at the end; {len(watch.pauses_ms)} full collections "
        f"(median {statistics.median(watch.pauses_ms or [0]):.0f} ms) during "
        f"{sum(r['n'] for r in results) + 4 * len(results)} requests. The count grows as the "
        "first requests load templates and translations, and with the bench itself: "
        "django.test.Client reconnects close_old_connections on every request, which leaves "
        "two weakref finalizers behind each time (a web worker does not)"
    )
    return results, notes


# --- the ledger export, in a fresh process ---------------------------------------------------
def export_in_subprocess(
    args: argparse.Namespace, label: str, user: Any, township: Any
) -> dict[str, Any]:
    from baoxue.cases.selectors import CaseFilters, case_list
    from baoxue.registry.models import Region

    expected = case_list(user, CaseFilters(status="all")).count()
    village = Region.objects.filter(level="village", parent=township).order_by("code").first()
    assert village is not None
    result_path = Path(tempfile.mkstemp(prefix="baoxue-bench-export-", suffix=".json")[1])
    command = [
        sys.executable, __file__,
        "--_export", user.username,
        "--_warm-village", str(village.pk),
        "--_result", str(result_path),
    ]  # fmt: skip
    log(f"export ({label}): {expected:,} cases, in a fresh process")
    try:
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)
    result["label"] = label
    result["cases"] = expected
    result["rows_ok"] = result["xlsx_rows"] == expected + 2
    log(
        f"export ({label}): {result['seconds']:.1f}s, peak RSS +{result['peak_growth_mb']:.1f} "
        f"MB, {result['xlsx_rows']:,} xlsx rows (expected {expected + 2:,})"
    )
    return result


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the high-water mark is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler(threading.Thread):
    """The process's resident set, read every few milliseconds; keeps the highest."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = rss_bytes()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, rss_bytes())
            self.halt.wait(self.interval)

    def stop(self) -> int:
        self.halt.set()
        self.join()
        self.peak = max(self.peak, rss_bytes())
        return self.peak


def run_export(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from baoxue.accounts.models import User
    from baoxue.cases import ledger
    from baoxue.cases.selectors import CaseFilters, case_list

    user = User.objects.get(username=args.export_user)
    cases = case_list(user, CaseFilters(status="all"))

    folder = Path(tempfile.mkdtemp(prefix="baoxue-bench-ledger-"))
    try:
        # Warm up on one village: imports, translations, the connection, the first plans.
        ledger.write(user, cases.filter(village_id=args.warm_village), path=folder / "warm.xlsx")
        gc.collect()
        before = rss_bytes()
        sampler = RssSampler()
        sampler.start()
        t0 = time.perf_counter()
        ledger.write(user, cases, path=folder / "ledger.xlsx")
        seconds = time.perf_counter() - t0
        peak = sampler.stop()
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(str(folder / "ledger.xlsx")).get_sheet_by_index(0)
        rows = len(sheet.to_python(skip_empty_area=False))
        result = {
            "seconds": seconds,
            "rss_before_mb": before / 2**20,
            "peak_growth_mb": (peak - before) / 2**20,
            "file_mb": (folder / "ledger.xlsx").stat().st_size / 2**20,
            "xlsx_rows": rows,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Path(args.result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
