"""Registry at scale: load a county-to-province sized registry and time the busiest pages.

What it measures
    For each database backend (SQLite and PostgreSQL) the script loads N children (default
    1,000,000) with their households, guardians, enrollments and enrollment events into a fresh
    database, then times, over --requests requests each, the SERVER time of:

      1. the child list filtered by village        /children/?village=<id>
      2. a name search, two-character prefix       /children/?q=吴俊
      3. a name search, surname only               /children/?q=吴
      4. a pinyin-initials search                  /children/?q=wjh
      5. an ID-suffix search                       /children/?q=1234
      6. the home page for a township user         /
      7. the home page for a county user           /

    Measures 1–5 are timed for the county user (scope: the whole county, i.e. every loaded
    child, which is the "at scale" case) and again for the township user (one township). Server
    time is time.perf_counter() around django.test.Client.get in-process: the whole Django
    request (middleware, session save, queries, template rendering) without any network. The
    queries are varied across requests (different villages, prefixes, initials and suffixes
    drawn from the loaded data). The number of SQL queries of each page is counted once with
    CaptureQueriesContext.

    Targets: p95 < 150 ms on PostgreSQL, < 300 ms on SQLite; the load under 5 minutes.

How the data is loaded
    baoxue.demo.builder.TownshipBuilder builds each township (one TownshipPlan per township:
    the twelve villages of demo.names with the township number in their names and codes, and
    the demo schools with distinct 10-digit codes). Places go through the registry services as
    usual; the bulk rows (households, children, guardians, enrollments, events) are taken from
    the builder's bulk_create/bulk_update calls by a RowSink, which gives them ids from a fixed
    per-township range and writes them with COPY (PostgreSQL) or executemany (SQLite), after
    the builder has filled in each child's school columns, so no bulk_update runs. The plain
    indexes of those tables are dropped for the load and rebuilt afterwards, then the database
    is analysed (VACUUM ANALYZE on PostgreSQL, ANALYZE and PRAGMA optimize on SQLite). Last,
    the county's count snapshot (registry.counts.counts_refresh, which the background task runs
    after writes) is computed, as the county home page reads it; its time is shown separately.
    Townships are built by --workers processes in parallel.

How to run
    .venv/bin/python bench/registry_scale.py --children 20000            # smoke run, both
    .venv/bin/python bench/registry_scale.py --backend sqlite --children 1000000
    .venv/bin/python bench/registry_scale.py --backend both --children 1000000 --commit HEAD

    A full run (1M children, both backends, 200 requests per measure) takes about 25 minutes on
    two cores; a measure stops early after --max-seconds (n then says how many requests ran).
    --commit benchmarks a commit's src/ rather than the working tree that others may be editing.

    SQLite uses a fresh data dir in a temporary folder; PostgreSQL uses the database
    baoxue_bench on 127.0.0.1:5432 as user postgres (dropped and created by the script). Both
    are removed afterwards unless --keep is given. Each backend runs in a subprocess of this
    script (Django reads its settings once, at import); the subprocesses report JSON and the
    parent prints one table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from _common import (  # bench/ is on sys.path when a script runs
    log,
    pg_create_database,
    pg_drop_database,
    source_tree,
    source_version,
)

# A fixed field key and secret for the run, so that the subprocesses and any rerun with --keep
# agree; they protect nothing but made-up data.
FIELD_KEY = "YmFveHVlLWJlbmNoLXJlZ2lzdHJ5LXNjYWxlLWtleSE="
SECRET_KEY = "baoxue-bench-registry-scale-" + "x" * 40
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "baoxue_bench"
TARGET_MS = {"sqlite": 300.0, "postgres": 150.0}
LOAD_TARGET_S = 300.0
SEED = 2025
# Children per household and guardians per child are bounded in the builder; these bound the
# id ranges each township gets so that parallel workers never share an id.
ID_STRIDE = {"household": 1, "child": 1, "guardian": 3, "enrollment": 1, "enrollmentevent": 2}


# ---------------------------------------------------------------------------------------------
# Parent: run each backend in a subprocess and print one table
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measure")
    parser.add_argument("--townships", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2, help="processes building townships")
    parser.add_argument(
        "--no-guardians", action="store_true", help="skip guardian rows to load faster"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="stop a measure early (fewer than --requests) once it has run this long",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--commit",
        help="benchmark this commit's src/ (extracted with git archive) instead of the working "
        "tree, so that edits made during a long run cannot change what is measured",
    )
    parser.add_argument("--_child-backend", dest="child_backend", help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result_path", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.child_backend:
        return run_backend(args)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    with source_tree(args.commit) as extra_env:
        for backend in backends:
            result = spawn_backend(backend, args, extra_env)
            if result is not None:
                results.append(result)
    print_report(results, args)
    return 0 if len(results) == len(backends) else 1


def spawn_backend(
    backend: str, args: argparse.Namespace, extra_env: dict[str, str]
) -> dict[str, Any] | None:
    workdir = Path(tempfile.mkdtemp(prefix=f"baoxue-bench-{backend}-"))
    (workdir / "data").mkdir()
    env = {
        **os.environ,
        **extra_env,
        "DJANGO_SETTINGS_MODULE": "baoxue.settings",
        "BAOXUE_DATA_DIR": str(workdir / "data"),
        "BAOXUE_STATIC_ROOT": str(workdir / "static"),
        "BAOXUE_FIELD_KEY": FIELD_KEY,
        "BAOXUE_SECRET_KEY": SECRET_KEY,
        "BAOXUE_DEBUG": "0",
        "BAOXUE_LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if backend == "postgres":
        env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
    result_path = workdir / "result.json"
    forwarded = [
        "--children", str(args.children),
        "--requests", str(args.requests),
        "--townships", str(args.townships),
        "--workers", str(args.workers),
        "--max-seconds", str(args.max_seconds),
    ]  # fmt: skip
    if args.no_guardians:
        forwarded.append("--no-guardians")
    command = [
        sys.executable, __file__, *forwarded,
        "--_child-backend", backend, "--_result", str(result_path),
    ]  # fmt: skip
    print(f"== {backend}: {args.children:,} children, work dir {workdir}", file=sys.stderr)
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


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"Registry at scale: {args.children:,} children, {args.townships} townships, "
        f"{args.requests} requests per measure (server time, in-process django.test.Client)"
    )
    print()
    versions = sorted({r["source"] for r in results})
    print(
        f"Code: {', '.join(versions)}"
        + (" (differs between backends!)" if len(versions) > 1 else "")
    )
    print()
    print("Load")
    header = (
        f"{'backend':<9} {'rows':>10} {'seconds':>8} {'rows/s':>8} {'children/s':>10} "
        f"{'target':>7} {'result':>6}  breakdown"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        load = r["load"]
        seconds = load["seconds"]
        rows = sum(load["rows"].values())
        verdict = "PASS" if seconds < LOAD_TARGET_S else "FAIL"
        parts = ", ".join(f"{k} {v:.0f}s" for k, v in load["phases"].items())
        print(
            f"{r['backend']:<9} {rows:>10,} {seconds:>8.1f} {rows / seconds:>8,.0f} "
            f"{load['rows']['children'] / seconds:>10,.0f} {'<300s':>7} {verdict:>6}  {parts}"
        )
    for r in results:
        load = r["load"]
        counts = ", ".join(f"{k} {v:,}" for k, v in load["rows"].items())
        guardians = "" if load["guardians"] else " (guardians skipped: --no-guardians)"
        print(f"  {r['backend']}: {counts}{guardians}; migrate {load['migrate_seconds']:.0f}s")
    print()
    print("Pages")
    header = (
        f"{'backend':<9} {'measure':<42} {'n':>4} {'median ms':>10} {'p95 ms':>8} "
        f"{'queries':>7} {'target':>7} {'result':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        target = TARGET_MS[r["backend"]]
        for m in r["measures"]:
            verdict = "PASS" if m["p95_ms"] < target else "FAIL"
            print(
                f"{r['backend']:<9} {m['label']:<42} {m['n']:>4} {m['median_ms']:>10.1f} "
                f"{m['p95_ms']:>8.1f} {m['queries']:>7} {'<' + format(target, '.0f'):>7} "
                f"{verdict:>6}"
            )
    for r in results:
        for note in r.get("notes", []):
            print(f"note ({r['backend']}): {note}")


def drop_pg_database() -> None:
    pg_drop_database(PG_SERVER, PG_DATABASE)


# ---------------------------------------------------------------------------------------------
# Child: one backend, from an empty database to the measured pages
# ---------------------------------------------------------------------------------------------
def prepare_backend(backend: str, database: str) -> tuple[str, float]:
    """A fresh database (PostgreSQL: `database`, created anew; SQLite: the data dir's), Django
    set up, migrated and its static files collected. Returns the source measured and the
    seconds that took."""
    # Others may commit or edit src/ while a long run goes on: say what was measured.
    source = os.environ.get("BAOXUE_BENCH_SOURCE") or source_version()
    if backend == "postgres":
        pg_create_database(PG_SERVER, database)
    import django

    django.setup()
    import baoxue

    log(f"{backend}: measuring {source}, package at {Path(baoxue.__file__).parent}")
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    return source, time.perf_counter() - started


def run_backend(args: argparse.Namespace) -> int:
    backend = args.child_backend
    source, migrate_seconds = prepare_backend(backend, PG_DATABASE)

    load = load_registry(args)
    load["migrate_seconds"] = migrate_seconds
    log(f"loaded in {load['seconds']:.1f}s: {load['rows']}")

    measures, notes = measure_pages(args)
    result = {
        "backend": backend,
        "source": source,
        "load": load,
        "measures": measures,
        "notes": notes,
    }
    Path(args.result_path).write_text(json.dumps(result, indent=1, default=str))
    return 0


# --- the plan of the county ------------------------------------------------------------------
def township_plans(children: int, townships: int) -> list[Any]:
    """One TownshipPlan per township: the demo villages and schools with the township number in
    their names and codes, so that region and school codes stay unique across the county."""
    from baoxue.demo import names
    from baoxue.demo.builder import TownshipPlan

    base, extra = divmod(children, townships)
    plans = []
    for t in range(townships):
        number = t + 1
        name = f"培秀{number:02d}乡"
        villages = [(f"{village[:-1]}{number:02d}村", groups) for village, groups in names.VILLAGES]
        schools: list[names.School] = []
        for j, spec in enumerate(names.SCHOOLS):
            stem = spec["name"].removeprefix(names.TOWNSHIP_NAME)
            schools.append({**spec, "name": f"{name}{stem}", "code": f"21{number:04d}{j + 1:04d}"})
        plans.append(
            TownshipPlan(
                name=name,
                code=f"{names.COUNTY_CODE}{100 + t:03d}",
                villages=villages,
                schools=schools,
                children=base + (1 if t < extra else 0),
            )
        )
    return plans


# --- writing the builder's rows --------------------------------------------------------------
def model_name(model: Any) -> str:
    return str(model._meta.model_name)


class RowSink:
    """Takes the place of bulk_create/bulk_update of the bulk models while a township is built.

    Rows get ids from the township's own range at bulk_create (so that foreign keys resolve at
    once) and are written in one transaction at each flush (after each of the builder's
    batches). Children are written last in the batch, so the builder's later bulk_update of
    their school columns finds them still pending and needs no UPDATE."""

    def __init__(self, *, township_index: int, per_township: int, guardians: bool) -> None:
        from django.db import connection

        from baoxue.registry.models import Child, Enrollment, EnrollmentEvent, Guardian, Household

        self.models: list[Any] = [Household, Child, Guardian, Enrollment, EnrollmentEvent]
        self.connection = connection
        self.vendor = connection.vendor
        self.guardians = guardians
        self.now = datetime.now(UTC)
        self.pending: dict[Any, list[Any]] = {m: [] for m in self.models}
        self.next_id: dict[Any, int] = {}
        self.flushed_upto: dict[Any, int] = {}
        for model in self.models:
            start = township_index * per_township * ID_STRIDE[model_name(model)] + 1
            self.next_id[model] = start
            self.flushed_upto[model] = start - 1
        self.written: dict[str, int] = {model_name(m): 0 for m in self.models}
        self.columns = {m: self._columns(m) for m in self.models}

    def _columns(self, model: Any) -> list[tuple[str, str, Callable[[Any, Any], Any]]]:
        from django.db import models

        cols = []
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                cols.append((f.column, f.attname, lambda obj, value: self.now))
            elif isinstance(f, models.UUIDField) and self.vendor != "postgresql":
                cols.append((f.column, f.attname, lambda obj, value: value.hex))
            elif f.is_relation:
                # As bulk_create does: a related object assigned before it had an id.
                def fk(obj: Any, value: Any, f: Any = f) -> Any:
                    if value is None and f.is_cached(obj):
                        return f.get_cached_value(obj).pk
                    return value

                cols.append((f.column, f.attname, fk))
            else:
                cols.append((f.column, f.attname, lambda obj, value: value))
        return cols

    @contextmanager
    def installed(self) -> Iterator[RowSink]:
        patches: list[Any] = []
        for model in self.models:
            patches.append(mock.patch.object(model.objects, "bulk_create", self._create(model)))
            patches.append(mock.patch.object(model.objects, "bulk_update", self._update(model)))
        for p in patches:
            p.start()
        try:
            yield self
        finally:
            for p in reversed(patches):
                p.stop()

    def _create(self, model: Any) -> Callable[..., list[Any]]:
        def bulk_create(objs: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
            for obj in objs:
                obj.pk = self.next_id[model]
                obj._state.adding = False
                obj._state.db = "default"
                self.next_id[model] += 1
            self.pending[model].extend(objs)
            return objs

        return bulk_create

    def _update(self, model: Any) -> Callable[..., int]:
        def bulk_update(objs: list[Any], fields: list[str], **kwargs: Any) -> int:
            if any(obj.pk <= self.flushed_upto[model] for obj in objs):
                raise RuntimeError(f"bulk_update of {model.__name__} rows already written")
            return len(objs)  # still pending: written with the new values at the next flush

        return bulk_update

    def flush(self) -> None:
        from django.db import transaction

        with transaction.atomic():
            for model in self.models:
                objs = self.pending[model]
                if not objs:
                    continue
                if self.guardians or model_name(model) != "guardian":
                    self._write(model, objs)
                    self.written[model_name(model)] += len(objs)
                self.flushed_upto[model] = objs[-1].pk
                self.pending[model] = []

    def _write(self, model: Any, objs: list[Any]) -> None:
        cols = self.columns[model]
        quote = self.connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(c) for c, _, _ in cols)
        rows = [
            [convert(obj, obj.__dict__.get(attname)) for _, attname, convert in cols]
            for obj in objs
        ]
        with self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(cols))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


# --- loading ---------------------------------------------------------------------------------
_progress_counter: Any = None


def _init_worker(counter: Any) -> None:
    global _progress_counter
    _progress_counter = counter


def build_one_township(
    township_index: int, plan: Any, county_id: int, per_township: int, guardians: bool
) -> dict[str, int]:
    """Build one township (run in a worker process) and return the rows written."""
    from baoxue.demo.builder import TownshipBuilder
    from baoxue.registry.models import Region

    county = Region.objects.get(pk=county_id)
    builder = TownshipBuilder(
        rng=random.Random(SEED * 1000 + township_index),
        county=county,
        # 40 townships × ~6 children per birth day and sex fit in the 500 sequences.
        id_offset=township_index * 12,
    )
    sink = RowSink(township_index=township_index, per_township=per_township, guardians=guardians)
    done = 0

    def progress(made: int, total: int) -> None:
        nonlocal done
        sink.flush()
        if _progress_counter is not None:
            with _progress_counter.get_lock():
                _progress_counter.value += made - done
        done = made

    with sink.installed():
        builder.build_township(plan, progress=progress)
        sink.flush()
    return sink.written


def load_registry(args: argparse.Namespace) -> dict[str, Any]:
    import multiprocessing

    from django.db import connection, connections

    from baoxue.demo.builder import ensure_county
    from baoxue.registry.counts import counts_refresh
    from baoxue.registry.models import Child, Enrollment, EnrollmentEvent, Guardian, Household

    bulk_models = [Household, Child, Guardian, Enrollment, EnrollmentEvent]
    plans = township_plans(args.children, args.townships)
    per_township = max(p.children for p in plans)
    phases: dict[str, float] = {}
    started = time.perf_counter()

    mark = time.perf_counter()
    county = ensure_county()
    dropped = drop_plain_indexes([m._meta.db_table for m in bulk_models])
    phases["drop indexes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    connections.close_all()  # the workers are forked: each opens its own connection
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0)
    written: dict[str, int] = {model_name(m): 0 for m in bulk_models}
    with ProcessPoolExecutor(
        max_workers=args.workers, mp_context=ctx, initializer=_init_worker, initargs=(counter,)
    ) as pool:
        futures = [
            pool.submit(build_one_township, t, plan, county.pk, per_township, not args.no_guardians)
            for t, plan in enumerate(plans)
        ]
        # One line rewritten in place on a terminal; a line every 10 s in a log file.
        tty = sys.stderr.isatty()
        pending = set(futures)
        ticks = 0
        while pending:
            time.sleep(1)
            ticks += 1
            pending = {f for f in pending if not f.done()}
            if tty or ticks % 10 == 0 or not pending:
                elapsed = time.perf_counter() - mark
                loaded = counter.value
                print(
                    f"{chr(13) if tty else ''}loading: {loaded:,} / {args.children:,} children, "
                    f"{loaded / elapsed:,.0f}/s, {elapsed:.0f}s ",
                    end="" if tty and pending else "\n",
                    file=sys.stderr,
                    flush=True,
                )
        for future in futures:
            for name, n in future.result().items():
                written[name] += n
    phases["build and write"] = time.perf_counter() - mark

    mark = time.perf_counter()
    recreate_indexes(dropped)
    phases["rebuild indexes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    reset_sequences(bulk_models)
    analyze()
    phases["analyze"] = time.perf_counter() - mark

    # What the background task does after an import; the county home page reads its result.
    mark = time.perf_counter()
    counts_refresh(county_id=county.pk)
    phases["count snapshot"] = time.perf_counter() - mark
    seconds = time.perf_counter() - started

    rows = {
        "children": written["child"],
        "households": written["household"],
        "guardians": written["guardian"],
        "enrollments": written["enrollment"],
        "enrollment events": written["enrollmentevent"],
    }
    assert Child.objects.count() == args.children, "child count does not match"
    return {
        "seconds": seconds,
        "phases": phases,
        "rows": rows,
        "guardians": not args.no_guardians,
        "indexes_rebuilt": len(dropped),
        "vendor": connection.vendor,
    }


def drop_plain_indexes(tables: list[str]) -> list[str]:
    """Drop the indexes of `tables` that back no constraint; return the SQL to recreate them."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes i
                JOIN pg_class c ON c.relname = i.indexname
                WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
                  AND i.indexdef NOT LIKE 'CREATE UNIQUE%%'
                """,
                [tables],
            )
        else:
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                f"AND tbl_name IN ({marks}) AND sql IS NOT NULL "
                f"AND sql NOT LIKE 'CREATE UNIQUE%%'",
                tables,
            )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [sql for _, sql in found]


def recreate_indexes(statements: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '1GB'")
        for sql in statements:
            cursor.execute(sql)


def reset_sequences(models: list[Any]) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # VACUUM as well: the steady state that autovacuum reaches some minutes after a
            # load (visibility map set, so counts can use index-only scans).
            cursor.execute("VACUUM (ANALYZE)")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA optimize")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- measuring -------------------------------------------------------------------------------
@dataclass
class Measure:
    label: str
    user: str
    urls: list[str]
    timings_ms: list[float] = field(default_factory=list)
    queries: int = 0

    def summary(self) -> dict[str, Any]:
        data = sorted(self.timings_ms)
        return {
            "label": self.label,
            "user": self.user,
            "n": len(data),
            "median_ms": statistics.median(data),
            "p95_ms": data[max(0, math.ceil(0.95 * len(data)) - 1)],
            "max_ms": data[-1],
            "queries": self.queries,
            "example": self.urls[0],
        }


def make_users() -> tuple[Any, Any, Any, Any]:
    from baoxue.accounts.models import Role
    from baoxue.accounts.services import Grant, user_create
    from baoxue.registry.models import Region

    county = Region.objects.get(level="county")
    townships = list(Region.objects.filter(level="township").order_by("code"))
    township = townships[len(townships) // 2]
    office = user_create(
        actor=None,
        username="bench_township",
        password="bench-township-pw",
        grants=[Grant(Role.TOWNSHIP_OFFICE, region=township)],
        check_password=False,
    )
    inspector = user_create(
        actor=None,
        username="bench_county",
        password="bench-county-pw",
        grants=[Grant(Role.COUNTY_INSPECTOR, region=county)],
        check_password=False,
    )
    return office, township, inspector, county


def sample_children(rng: random.Random, scope: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """About n random children from `scope`, for queries that find something."""
    from django.db.models import Max, Min

    from baoxue.registry.models import Child

    qs = Child.objects.filter(**scope)
    bounds = qs.aggregate(low=Min("id"), high=Max("id"))
    low, high = bounds["low"], bounds["high"]
    ids = rng.sample(range(low, high + 1), min(n * 2, high - low + 1))
    from baoxue.core import crypto

    rows = list(
        qs.filter(pk__in=ids).values("name", "name_initials", "id_number_enc", "village_id")
    )
    for row in rows:
        # The last four digits a user types (Child.id_suffix is a keyed index of them now).
        row["last4"] = crypto.decrypt(row.pop("id_number_enc"))[-4:]
    rng.shuffle(rows)
    return rows[:n]


def build_measures(
    rng: random.Random, n: int, office: Any, township: Any, county: Any
) -> list[Measure]:
    from urllib.parse import urlencode

    from baoxue.registry.models import Region

    def urls(values: list[Any], key: str) -> list[str]:
        return [f"/children/?{urlencode({key: values[i % len(values)]})}" for i in range(n)]

    measures: list[Measure] = []
    for user, region, scope, label in (
        ("county", county, {"county": county}, "county user"),
        ("township", township, {"township": township}, "township user"),
    ):
        sample = sample_children(rng, scope, n)
        villages = list(
            Region.objects.filter(level="village", path__startswith=region.path).values_list(
                "id", flat=True
            )
        )
        rng.shuffle(villages)
        prefixes = [c["name"][:2] for c in sample if len(c["name"]) >= 2]
        surnames = sorted({c["name"][0] for c in sample})
        rng.shuffle(surnames)
        initials = [c["name_initials"] for c in sample if c["name_initials"]]
        suffixes = [c["last4"] for c in sample if c["last4"].isdigit()]
        measures += [
            Measure(f"list ?village= ({label})", user, urls(villages, "village")),
            Measure(f"search 2-char name prefix ({label})", user, urls(prefixes, "q")),
            Measure(f"search surname only ({label})", user, urls(surnames, "q")),
            Measure(f"search pinyin initials ({label})", user, urls(initials, "q")),
            Measure(f"search ID last 4 digits ({label})", user, urls(suffixes, "q")),
        ]
    measures.append(Measure("home / (township user)", "township", ["/"] * n))
    measures.append(Measure("home / (county user)", "county", ["/"] * n))
    return measures


def measure_pages(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from baoxue.registry.selectors import home_counts

    office, township, inspector, county = make_users()
    # The pages must show the loaded children (the county's from the count snapshot).
    for user in (office, inspector):
        assert home_counts(user).total.total > 0, f"no children counted for {user}"
    clients = {"township": Client(), "county": Client()}
    clients["township"].force_login(office)
    clients["county"].force_login(inspector)
    rng = random.Random(SEED)
    notes: list[str] = []
    results = []
    for measure in build_measures(rng, args.requests, office, township, county):
        client = clients[measure.user]
        for url in measure.urls[:3]:  # warm up: templates, forms, plans
            assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as captured:
            client.get(measure.urls[0])
        measure.queries = len(captured.captured_queries)
        started = time.perf_counter()
        for url in measure.urls:
            t0 = time.perf_counter()
            response = client.get(url)
            measure.timings_ms.append((time.perf_counter() - t0) * 1000)
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
            f"{summary['p95_ms']:.1f} ms, {measure.queries} queries, e.g. {measure.urls[0]}"
        )
        results.append(summary)
    return results, notes


if __name__ == "__main__":
    sys.exit(main())
