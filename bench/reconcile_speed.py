"""Reconciliation speed: 1,000,000 roster rows against 1,000,000 学籍 rows (province scale).

What it measures (the issue: "1,000,000 roster rows vs 1,000,000 enrollment rows with 2%
damaged records: at most 60 s and 4 GB peak on 2 cores; report the ratio to a plain DuckDB
exact hash join on the same data (the floor) and to Splink 5 with its DuckDB backend at
comparable settings (the peer), both measured in the same run: faster than Splink with equal or
better F1")

    The script makes --rows children (seeded): valid 18-character ID numbers (22 county codes of
    Guangxi, birth dates 2010–2020, sequence numbers whose parity is the sex, the check
    character from idnumbers.check_character), names from the demo.names pickers, a village
    1..5000 tied to the county. The roster side holds every child (keys 1..N); the 学籍 side
    holds the same children (keys 10,000,001..) with --damaged of them damaged: one wrong digit,
    two swapped neighbours, a wrong check character, 15 digits or no number, in equal shares,
    and a third of those also with one character of the name replaced by a homophone (the same
    pinyin by core.text.pinyin_keys). Truth: the two records of one child are a pair. Then,
    each in a fresh subprocess:

      1. engine.link: Person lists built from the loaded columns (timed separately, "build"),
         then engine.link(roster, 学籍) timed alone. Valid numbers are given as their digits
         and id_key is the identity (--id-key hmac instead gives valid numbers as a keyed
         HMAC-SHA256, hashed before the build, with the same HMAC as id_key, as the registry
         does with crypto.lookup_hash). Precision, recall and F1 of the links against the
         truth ("false": links that are not true pairs; "missed": true pairs not linked, by
         the damage of their 学籍 record), and the review queue (review pairs are not links;
         "true pairs linked or in review" says how many of the missed ones a person would see).
      2. engine.reconcile: the whole comparison (link, carry 学籍-only records, categorise):
         an engine.Child per record (roster: on_roster; 学籍 side: not on the roster, one
         current Enrolled each), no attendance, birth range 2009-09-01..2019-08-31. Building
         the Child objects and the enrollments mapping is timed separately.
      3. DuckDB floor: both tables loaded into an in-memory DuckDB (untimed), then
         CREATE TABLE pairs AS SELECT … JOIN … ON l.id_number = r.id_number (timed); the
         pairs are fetched untimed for F1. DuckDB uses both cores.
      4. Splink 5 (DuckDB backend, both cores): link_only; blocking rules for predictions
         block_on("id_number") and block_on("birth", "sex"); comparisons: name (exact, same
         pinyin, Levenshtein ≤ 1, else; the pinyin column is computed when the data is
         written, untimed), birth exact, sex exact, id_number (exact, Levenshtein ≤ 1, ≤ 2,
         else; DuckDB's damerau_levenshtein is about 5 × slower), village exact; no term
         frequencies. Training: the prior from the deterministic rule id_number (recall 0.98),
         u by random sampling (--splink-u-pairs, seeded), m by two EM sessions (blocked on
         id_number, then on birth + sex + village). Prediction at match probability ≥
         --splink-threshold, then one-to-one: a pair is kept when each side is the other's
         best (ties to the lower key). "train", "predict" (incl. one-to-one) and their total
         are reported; the comparisons use the total. With --splink-rows < --rows Splink runs
         on the first --splink-rows children of both sides (the same damaged share), and
         engine.link and the DuckDB join run again on those rows, so that ratios compare
         equal work.

    Every measure runs in a fresh subprocess so that its peak RSS is its own: "peak MB" is the
    process's (getrusage ru_maxrss or VmHWM, whichever is higher; loading the data counts:
    the engine needs its Person lists in memory), "call MB" the peak during the measured call
    (VmHWM reset through /proc/self/clear_refs just before it). The data are written once by a
    subprocess (a child inherits its parent's ru_maxrss across fork and exec, so the parent
    stays small): a pickle of the columns for the engine, Parquet for DuckDB and Splink; each
    measure loads them untimed. Times are perf_counter around the measured call only. Targets:
    engine.link at most 60 s and 4 GB peak RSS; faster than Splink (training + prediction)
    with an F1 at least Splink's.

How to run
    .venv/bin/python bench/reconcile_speed.py --rows 20000                  # smoke run
    .venv/bin/python bench/reconcile_speed.py                               # the issue's 1M
    .venv/bin/python bench/reconcile_speed.py --splink-rows 200000 --data /tmp/reco-1m
    .venv/bin/python bench/reconcile_speed.py --rows 100000 --no-splink --no-duckdb --profile

    --data keeps the generated data in that folder and reuses it when --rows, --damaged and
    --seed match. --profile also runs engine.link under cProfile (on --profile-rows children)
    and prints the top functions. --commit benchmarks a commit's src/ (git archive) instead of
    the working tree that others may be editing. --no-splink / --no-duckdb / --no-reconcile
    skip measures. Needs duckdb (the bench extra) and, for the peer, splink==5.0.0. Progress
    goes to stderr; the table to stdout. The engine's own imports need no Django settings.
"""

from __future__ import annotations

import argparse
import csv
import gc
import hmac
import json
import os
import pickle
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from _common import log, source_tree, source_version  # bench/ is on sys.path when a script runs

SEED = 2025
RIGHT_OFFSET = 10_000_000  # 学籍-side keys: child index + 1 + this; roster keys: index + 1
TIME_TARGET = 60.0
RSS_TARGET_MB = 4096.0
HMAC_KEY = b"baoxue-bench-reconcile-speed-lookup-key"  # protects nothing: made-up data
# County codes of Guangxi (real shapes; the people are made up).
REGIONS = [
    "450102",
    "450103",
    "450105",
    "450107",
    "450108",
    "450109",
    "450122",
    "450123",
    "450124",
    "450125",
    "450126",
    "450127",
    "450202",
    "450203",
    "450204",
    "450205",
    "450221",
    "450222",
    "450223",
    "450224",
    "450225",
    "450226",
]
VILLAGES = 5000
FIRST_BIRTH = date(2010, 1, 1)
LAST_BIRTH = date(2020, 12, 31)
DAMAGES = ("digit", "swap", "check", "fifteen", "missing")
HOMOPHONE_SHARE = 1 / 3
COLUMNS = ("key", "name", "name_py", "sex", "birth", "id_number", "id_valid", "village")


# ---------------------------------------------------------------------------------------------
# Parent: generate the data, run the measures, print one table
# ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="children (each side)")
    parser.add_argument("--damaged", type=float, default=0.02, help="share of damaged 学籍 rows")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--splink", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--duckdb", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--reconcile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time engine.reconcile (the whole comparison)",
    )
    parser.add_argument(
        "--splink-rows", type=int, default=0, help="children for Splink (default: --rows)"
    )
    parser.add_argument("--splink-threshold", type=float, default=0.9)
    parser.add_argument("--splink-u-pairs", type=float, default=1e7)
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before a measure is abandoned"
    )
    parser.add_argument("--id-key", choices=["plain", "hmac", "both"], default="plain")
    parser.add_argument("--profile", action="store_true", help="cProfile engine.link too")
    parser.add_argument("--profile-rows", type=int, default=100_000)
    parser.add_argument("--data", help="keep the generated data here; reuse it if it matches")
    parser.add_argument(
        "--commit",
        help="benchmark this commit's src/ (extracted with git archive) instead of the working "
        "tree, so that edits made during a long run cannot change what is measured",
    )
    parser.add_argument("--_worker", dest="worker", help=argparse.SUPPRESS)
    parser.add_argument("--_dir", dest="dir", help=argparse.SUPPRESS)
    parser.add_argument("--_limit", dest="limit", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.worker:
        result = run_worker(args)
        print(json.dumps(result), flush=True)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="baoxue-bench-reconcile-"))
    try:
        folder = Path(args.data) if args.data else scratch / "data"
        info = prepare_data(folder, args.rows, args.damaged, args.seed, args.duckdb or args.splink)
        results: list[dict[str, Any]] = []
        profile_text = ""
        with source_tree(args.commit) as extra_env:
            env = {**os.environ, **extra_env}
            modes = ["plain", "hmac"] if args.id_key == "both" else [args.id_key]
            for mode in modes:
                results.append(measure("engine-link", folder, args, env, id_key=mode))
            if args.reconcile:
                results.append(measure("engine-reconcile", folder, args, env))
            if args.duckdb:
                results.append(measure("duckdb", folder, args, env))
            splink_rows = min(args.splink_rows or args.rows, args.rows)
            if args.splink:
                if splink_rows < args.rows:
                    results.append(measure("engine-link", folder, args, env, limit=splink_rows))
                    if args.duckdb:
                        results.append(measure("duckdb", folder, args, env, limit=splink_rows))
                results.append(measure("splink", folder, args, env, limit=splink_rows))
            if args.profile:
                profile_text = run_profile(scratch, args, env)
        print_report(results, args, info, source_version(extra_env))
        if profile_text:
            print()
            print(profile_text)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def measure(
    worker: str,
    folder: Path,
    args: argparse.Namespace,
    env: dict[str, str],
    *,
    limit: int = 0,
    id_key: str = "plain",
) -> dict[str, Any]:
    """Run one measure in a fresh interpreter; its result is the JSON line it prints."""
    command = [sys.executable, __file__, "--_worker", worker, "--_dir", str(folder)]
    command += ["--_limit", str(limit), "--id-key", id_key, "--seed", str(args.seed)]
    command += ["--splink-threshold", str(args.splink_threshold)]
    command += ["--splink-u-pairs", str(args.splink_u_pairs)]
    rows = limit or args.rows
    label = {"engine-link": "engine.link", "engine-reconcile": "engine.reconcile"}.get(
        worker, worker
    )
    if worker == "engine-link" and id_key == "hmac":
        label += " (hmac ids)"
    log(f"{label}: {rows:,} rows …")
    try:
        run = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        log(f"{label}: no result within {args.timeout:.0f} s")
        return {"label": label, "rows": rows, "error": f"timeout after {args.timeout:.0f} s"}
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        log(f"{label}: failed (exit {run.returncode})")
        return {"label": label, "rows": rows, "error": f"exit {run.returncode}"}
    result = json.loads(lines[-1])
    result.update(label=label, rows=rows, worker=worker)
    log(
        f"{label}: {result['seconds']:.2f} s, {result['rss_mb']:.0f} MB, F1 {result['f1']:.4f}"
        + "".join(f", {k} {v:.2f} s" for k, v in result.get("parts", {}).items())
    )
    return result


def run_profile(scratch: Path, args: argparse.Namespace, env: dict[str, str]) -> str:
    folder = scratch / "profile-data"
    prepare_data(folder, args.profile_rows, args.damaged, args.seed, False)
    log(f"cProfile of engine.link on {args.profile_rows:,} rows …")
    command = [sys.executable, __file__, "--_worker", "profile", "--_dir", str(folder)]
    run = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["text"] if lines else f"profile failed (exit {run.returncode})"


def print_report(
    results: list[dict[str, Any]], args: argparse.Namespace, info: dict[str, Any], source: str
) -> None:
    print(
        f"Reconciliation speed: {args.rows:,} roster rows vs {args.rows:,} 学籍 rows, "
        f"{info['damaged']:,} damaged ({args.damaged:.1%}: "
        + ", ".join(f"{k} {v:,}" for k, v in info["kinds"].items())
        + f"; {info['homophones']:,} with a homophone name), seed {args.seed}"
    )
    print(
        f"source {source}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
        + ", ".join(f"{k} {v}" for k, v in package_versions().items())
    )
    print()

    def base(worker: str, rows: int) -> dict[str, Any] | None:
        for r in results:
            if r.get("worker") == worker and r["rows"] == rows and "error" not in r:
                return r
        return None

    header = (
        f"{'measure':<24} {'rows':>9} {'seconds':>8} {'peak MB':>7} {'call MB':>7} "
        f"{'precision':>9} {'recall':>8} {'F1':>8} {'false':>6} {'missed':>7} "
        f"{'× DuckDB':>8} {'× Splink':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if "error" in r:
            print(f"{r['label']:<24} {r['rows']:>9,} {r['error']}")
            continue
        duck = base("duckdb", r["rows"])
        spl = base("splink", r["rows"])
        x_duck = f"{r['seconds'] / duck['seconds']:.1f}" if duck else "–"
        x_splink = f"{r['seconds'] / spl['seconds']:.3f}" if spl else "–"
        print(
            f"{r['label']:<24} {r['rows']:>9,} {r['seconds']:>8.2f} {r['rss_mb']:>7.0f} "
            f"{r['call_mb']:>7.0f} {r['precision']:>9.5f} {r['recall']:>8.5f} {r['f1']:>8.5f} "
            f"{r['false']:>6,} {r['missed']:>7,} {x_duck:>8} {x_splink:>8}"
        )
    print()
    for r in results:
        if "error" in r:
            continue
        notes = "; ".join(f"{k} {v:.2f} s" for k, v in r.get("parts", {}).items())
        extra = r.get("notes", "")
        print(f"{r['label']} ({r['rows']:,}): {'; '.join(x for x in (notes, extra) if x)}")
    print()
    engine = base("engine-link", args.rows)
    if engine is None:
        print("engine.link: no result")
        return
    verdict = "PASS" if engine["seconds"] <= TIME_TARGET else "FAIL"
    print(f"target engine.link ≤ {TIME_TARGET:.0f} s: {engine['seconds']:.2f} s  {verdict}")
    verdict = "PASS" if engine["rss_mb"] <= RSS_TARGET_MB else "FAIL"
    print(f"target peak RSS ≤ {RSS_TARGET_MB:.0f} MB: {engine['rss_mb']:.0f} MB  {verdict}")
    spl = next((r for r in results if r.get("worker") == "splink" and "error" not in r), None)
    if spl is None:
        print("target faster than Splink with F1 ≥ Splink's: not measured")
        return
    same = base("engine-link", spl["rows"]) or engine
    faster = same["seconds"] < spl["seconds"]
    better = same["f1"] >= spl["f1"]
    verdict = "PASS" if faster and better else "FAIL"
    rows_note = "" if spl["rows"] == args.rows else f" (both on {spl['rows']:,} rows)"
    print(
        f"target faster than Splink with F1 ≥ Splink's{rows_note}: "
        f"{same['seconds']:.2f} s vs {spl['seconds']:.2f} s "
        f"(predict alone {spl['parts'].get('predict', float('nan')):.2f} s), "
        f"F1 {same['f1']:.5f} vs {spl['f1']:.5f}  {verdict}"
    )


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("duckdb", "splink", "rapidfuzz", "pypinyin"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------
def prepare_data(folder: Path, rows: int, damaged: float, seed: int, tables: bool) -> dict:
    """Write (or reuse) the columns of both sides: data.pickle, and the Parquet tables when
    DuckDB or Splink will run. The writing runs in a subprocess: a child process inherits the
    peak RSS of its parent (ru_maxrss survives fork and exec), so the parent stays small."""
    meta_path = folder / "meta.json"
    wanted = {"rows": rows, "damaged": damaged, "seed": seed}
    fresh = not (meta_path.exists() and json.loads(meta_path.read_text())["params"] == wanted)
    if fresh or (tables and not (folder / "xueji.parquet").exists()):
        command = [sys.executable, __file__, "--_worker", "generate", "--_dir", str(folder)]
        command += ["--rows", str(rows), "--damaged", str(damaged), "--seed", str(seed)]
        command += ["--duckdb" if tables else "--no-duckdb"]
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    else:
        log(f"using the data in {folder}")
    return json.loads(meta_path.read_text())["info"]


def generate_worker(folder: Path, rows: int, damaged: float, seed: int, tables: bool) -> None:
    meta_path = folder / "meta.json"
    wanted = {"rows": rows, "damaged": damaged, "seed": seed}
    if not (meta_path.exists() and json.loads(meta_path.read_text())["params"] == wanted):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*"):
            stale.unlink()
        log(f"generating {rows:,} children (seed {seed}) …")
        started = time.perf_counter()
        sides, info = generate(rows, damaged, seed)
        with open(folder / "data.pickle", "wb") as fh:
            pickle.dump(sides, fh, protocol=pickle.HIGHEST_PROTOCOL)
        meta_path.write_text(json.dumps({"params": wanted, "info": info}))
        log(f"generated in {time.perf_counter() - started:.1f} s")
    if tables and not (folder / "xueji.parquet").exists():
        write_parquet(folder)


def generate(rows: int, damaged: float, seed: int) -> tuple[dict[str, dict[str, list]], dict]:
    from baoxue.core.idnumbers import check_character
    from baoxue.core.text import pinyin_keys
    from baoxue.demo import names

    rng = random.Random(seed)
    first = FIRST_BIRTH.toordinal()
    days = LAST_BIRTH.toordinal() - first + 1
    per_region = VILLAGES // len(REGIONS)
    roster: dict[str, list] = {c: [] for c in COLUMNS}
    used: Counter[tuple[int, int, int]] = Counter()
    numbers: list[str] = []
    for i in range(rows):
        region = rng.randrange(len(REGIONS))
        day = first + rng.randrange(days)
        male = rng.random() < 0.52
        k = used[(region, day, male)]
        used[(region, day, male)] = k + 1
        if k >= 499:
            raise ValueError("too many children for one region, day and sex")
        seq = 2 * k + 1 if male else 2 * k + 2  # odd for boys
        birth = date.fromordinal(day)
        first17 = f"{REGIONS[region]}{birth:%Y%m%d}{seq:03d}"
        number = first17 + check_character(first17)
        sex = "M" if male else "F"
        ethnicity = names.pick_ethnicity(rng)
        name = names.pick_surname(rng, ethnicity) + names.pick_given_name(rng, sex)
        numbers.append(number)
        roster["key"].append(i + 1)
        roster["name"].append(name)
        roster["sex"].append(sex)
        roster["birth"].append(birth)
        roster["id_number"].append(number)
        roster["id_valid"].append(True)
        roster["village"].append(1 + region * per_region + rng.randrange(per_region))
    xueji = {c: list(v) for c, v in roster.items()}
    xueji["key"] = [k + RIGHT_OFFSET for k in roster["key"]]
    homophones = homophone_table()
    n_damaged = round(rows * damaged)
    kinds: Counter[str] = Counter()
    n_homophones = 0
    for i in rng.sample(range(rows), n_damaged):
        kind = rng.choice(DAMAGES)
        kinds[kind] += 1
        xueji["id_number"][i] = damage(rng, numbers[i], kind)
        xueji["id_valid"][i] = False
        if rng.random() < HOMOPHONE_SHARE:
            other = homophone(rng, xueji["name"][i], homophones, pinyin_keys)
            if other != xueji["name"][i]:
                xueji["name"][i] = other
                n_homophones += 1
    for side in (roster, xueji):
        side["name_py"] = [pinyin_keys(n)[0] for n in side["name"]]
    info = {
        "damaged": n_damaged,
        "kinds": {k: kinds[k] for k in DAMAGES},
        "homophones": n_homophones,
    }
    return {"roster": roster, "xueji": xueji}, info


def damage(rng: random.Random, number: str, kind: str) -> str:
    """The number with one slip of `kind` (never a valid number again: MOD 11-2 catches one
    wrong digit and one swap of neighbours)."""
    if kind == "digit":
        pos = rng.randrange(17)
        digit = str((int(number[pos]) + rng.randrange(1, 10)) % 10)
        return number[:pos] + digit + number[pos + 1 :]
    if kind == "swap":
        spots = [
            i
            for i in range(17)
            if number[i] != number[i + 1] and number[i].isdigit() and number[i + 1].isdigit()
        ]
        i = rng.choice(spots)
        return number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    if kind == "check":
        return number[:17] + rng.choice([c for c in "0123456789X" if c != number[17]])
    if kind == "fifteen":
        return number[:6] + number[8:17]
    return ""


def homophone_table() -> dict[str, list[str]]:
    """The 3,755 common characters (GB 2312 level 1) by their pinyin."""
    from baoxue.core.text import pinyin_keys

    table: dict[str, list[str]] = {}
    for b1 in range(0xB0, 0xD8):
        for b2 in range(0xA1, 0xFF):
            try:
                ch = bytes([b1, b2]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            table.setdefault(pinyin_keys(ch)[0], []).append(ch)
    return table


def homophone(rng: random.Random, name: str, table: dict[str, list[str]], keys: Any) -> str:
    """The name with one character replaced by another of the same sound, so that the whole
    name keeps its pinyin (surname readings included); the name itself if none is found."""
    target = keys(name)[0]
    for pos in rng.sample(range(len(name)), len(name)):
        choices = [c for c in table.get(keys(name[pos])[0], []) if c != name[pos]]
        rng.shuffle(choices)
        for ch in choices[:5]:
            other = name[:pos] + ch + name[pos + 1 :]
            if keys(other)[0] == target:
                return other
    return name


def write_parquet(folder: Path) -> None:
    """roster.parquet and xueji.parquet (IDs '' → NULL), through CSV and DuckDB."""
    import duckdb

    with open(folder / "data.pickle", "rb") as fh:
        sides = pickle.load(fh)
    con = duckdb.connect()
    types = {
        "key": "BIGINT",
        "name": "VARCHAR",
        "name_py": "VARCHAR",
        "sex": "VARCHAR",
        "birth": "DATE",
        "id_number": "VARCHAR",
        "id_valid": "BOOLEAN",
        "village": "INTEGER",
    }
    for side, columns in sides.items():
        csv_path = folder / f"{side}.csv"
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(zip(*(columns[c] for c in COLUMNS), strict=True))
        con.execute(
            f"COPY (SELECT * REPLACE (nullif(id_number, '') AS id_number) FROM read_csv(?, "
            f"header = true, columns = {types!r})) TO '{folder / f'{side}.parquet'}' "
            "(FORMAT parquet)",
            [str(csv_path)],
        )
        csv_path.unlink()
    log("wrote the Parquet tables")


# ---------------------------------------------------------------------------------------------
# Workers (one fresh process each)
# ---------------------------------------------------------------------------------------------
def status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since exec or the last reset) from /proc/self/status."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Memory:
    """Peak RSS of the whole process (loading the data included: the table's figure) and of
    the measured call alone (the kernel's high-water mark is reset before it, Linux ≥ 4.0)."""

    def start(self) -> None:
        gc.collect()
        self.load_peak = self.max_rss()
        self.before = status_mb("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False

    def stop(self) -> None:
        self.call_peak = status_mb("VmHWM") if self.reset else 0.0
        self.peak = max(self.load_peak, self.call_peak, self.max_rss())

    @staticmethod
    def max_rss() -> float:
        # getrusage (KiB on Linux) lags behind VmHWM: the kernel updates it lazily.
        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, status_mb("VmHWM"))

    def note(self) -> str:
        during = f"{self.call_peak:.0f} MB" if self.reset else "n/a"
        return f"RSS before the call {self.before:.0f} MB, peak during it {during}"


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(args.dir)
    if args.worker == "generate":
        generate_worker(folder, args.rows, args.damaged, args.seed, args.duckdb)
        return {}
    if args.worker in ("engine-link", "engine-reconcile", "profile"):
        return engine_worker(args.worker, folder, args.limit, args.id_key)
    if args.worker == "duckdb":
        return duckdb_worker(folder, args.limit)
    if args.worker == "splink":
        return splink_worker(folder, args.limit, args)
    raise ValueError(args.worker)


def quality(pairs: Any, rows: int) -> dict[str, float]:
    """Precision, recall and F1 of (roster key, 学籍 key) pairs: every child has one true pair."""
    found = 0
    true = 0
    for left, right in pairs:
        found += 1
        true += right - left == RIGHT_OFFSET
    precision = true / found if found else 0.0
    recall = true / rows if rows else 0.0
    f1 = 2 * precision * recall / (precision + recall) if true else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "links": found,
        "false": found - true,
        "missed": rows - true,
    }


def load_sides(folder: Path, limit: int) -> dict[str, dict[str, list]]:
    with open(folder / "data.pickle", "rb") as fh:
        sides = pickle.load(fh)
    if limit:
        sides = {s: {c: v[:limit] for c, v in cols.items()} for s, cols in sides.items()}
    return sides


def lookup_hash(value: str) -> str:
    return hmac.digest(HMAC_KEY, value.encode(), "sha256").hex()


def engine_worker(worker: str, folder: Path, limit: int, id_key: str) -> dict[str, Any]:
    from baoxue.reconcile import engine

    sides = load_sides(folder, limit)
    rows = len(sides["roster"]["key"])
    if id_key == "hmac":  # stored as hashes in the registry: not part of the build
        for cols in sides.values():
            cols["id_number"] = [
                lookup_hash(n) if ok else n
                for n, ok in zip(cols["id_number"], cols["id_valid"], strict=True)
            ]
    key_fn = lookup_hash if id_key == "hmac" else None
    columns = ("key", "name", "sex", "birth", "id_number", "village", "id_valid")
    started = time.perf_counter()
    roster = [
        engine.Person(*row) for row in zip(*(sides["roster"][c] for c in columns), strict=True)
    ]
    xueji = [engine.Person(*row) for row in zip(*(sides["xueji"][c] for c in columns), strict=True)]
    parts: dict[str, float] = {}
    if worker == "engine-reconcile":
        grades = {}
        children = [engine.Child(p, on_roster=True) for p in roster]
        children += [engine.Child(p, on_roster=False) for p in xueji]
        enrollments = {}
        for p in xueji:
            grade = grades.get(p.birth.year)
            if grade is None:
                grade = grades[p.birth.year] = min(9, max(1, 2025 - p.birth.year - 6))
            school = 1 + (p.place or 0) % 1500
            enrollments[p.key] = [engine.Enrolled(school, True, "01", grade, True)]
        parts["build"] = time.perf_counter() - started
        del roster, xueji
    else:
        parts["build"] = time.perf_counter() - started
    del sides
    kwargs = {"id_key": key_fn} if key_fn else {}
    memory = Memory()
    memory.start()
    if worker == "profile":
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        linkage = engine.link(roster, xueji, **kwargs)
        profiler.disable()
        seconds = time.perf_counter() - started
        out = io.StringIO()
        out.write(f"cProfile of engine.link, {rows:,} rows: {seconds:.2f} s under the profiler\n")
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(15)
        stats.sort_stats("cumulative").print_stats(15)
        return {"text": out.getvalue()}
    if worker == "engine-reconcile":
        settings = engine.CategorySettings(
            earliest_birth=date(2009, 9, 1), latest_birth=date(2019, 8, 31)
        )
        started = time.perf_counter()
        found, linkage = engine.reconcile(
            children, enrollments, {}, category_settings=settings, **kwargs
        )
        seconds = time.perf_counter() - started
        notes = f"{len(found):,} results: " + ", ".join(
            f"{k} {v:,}" for k, v in Counter(r.category for r in found).most_common()
        )
    else:
        started = time.perf_counter()
        linkage = engine.link(roster, xueji, **kwargs)
        seconds = time.perf_counter() - started
        notes = ""
    memory.stop()
    result = quality(((x.left, x.right) for x in linkage.links), rows)
    truly = {(x.left, x.right) for x in linkage.links if x.right - x.left == RIGHT_OFFSET}
    truly |= {(x.left, x.right) for x in linkage.review if x.right - x.left == RIGHT_OFFSET}
    methods = Counter(x.method for x in linkage.links)
    if worker == "engine-reconcile":
        roster = [c.person for c in children[:rows]]
        xueji = [c.person for c in children[rows:]]
    linked = {x.left - 1 for x in linkage.links if x.right - x.left == RIGHT_OFFSET}
    missed = Counter(
        describe(roster[i], xueji[i]) for i in range(rows) if i not in linked
    ).most_common()
    notes = "; ".join(
        x
        for x in (
            f"links {result['links']:,} ("
            + ", ".join(f"{k} {v:,}" for k, v in methods.most_common())
            + f"), review {len(linkage.review):,}, true pairs linked or in review "
            f"{len(truly) / rows:.4f}",
            "missed: " + (", ".join(f"{k} {v:,}" for k, v in missed) or "none"),
            memory.note(),
            notes,
        )
        if x
    )
    parts["link" if worker == "engine-link" else "reconcile"] = seconds
    return {
        **result,
        "seconds": seconds,
        "rss_mb": memory.peak,
        "call_mb": memory.call_peak,
        "review": len(linkage.review),
        "parts": parts,
        "notes": notes,
    }


def describe(left: Any, right: Any) -> str:
    """The damage of a child's 学籍 record, for the list of missed pairs."""
    number = right.id_number
    if right.id_valid:
        kind = "valid number"
    elif not number:
        kind = "no number"
    elif len(number) == 15:
        kind = "15 digits"
    elif number[:17] == left.id_number[:17]:
        kind = "wrong check character"
    else:
        kind = "wrong digit or swap"
    return kind + (" + homophone" if left.name != right.name else "")


def load_duckdb(con: Any, folder: Path, limit: int) -> None:
    for side, offset in (("roster", 0), ("xueji", RIGHT_OFFSET)):
        where = f"WHERE key <= {offset + limit}" if limit else ""
        con.execute(
            f"CREATE TABLE {side} AS SELECT * FROM read_parquet(?) {where}",
            [str(folder / f"{side}.parquet")],
        )


def duckdb_worker(folder: Path, limit: int) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    load_duckdb(con, folder, limit)
    rows = con.execute("SELECT count(*) FROM roster").fetchall()[0][0]
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    memory = Memory()
    memory.start()
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE pairs AS SELECT l.key AS l, r.key AS r "
        "FROM roster l JOIN xueji r ON l.id_number = r.id_number"
    )
    seconds = time.perf_counter() - started
    memory.stop()
    result = quality(con.execute("SELECT l, r FROM pairs").fetchall(), rows)
    return {
        **result,
        "seconds": seconds,
        "rss_mb": memory.peak,
        "call_mb": memory.call_peak,
        "parts": {},
        "notes": f"{result['links']:,} pairs; {threads} threads; {memory.note()}",
    }


def splink_worker(folder: Path, limit: int, args: argparse.Namespace) -> dict[str, Any]:
    import logging

    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    load_duckdb(con, folder, limit)
    rows = con.execute("SELECT count(*) FROM roster").fetchall()[0][0]
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    db_api = DuckDBAPI(con)
    left = db_api.register("roster", dataset_display_name="roster_side")
    right = db_api.register("xueji", dataset_display_name="xueji_side")
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="key",
        comparisons=[
            cl.CustomComparison(
                [
                    cll.NullLevel("name"),
                    cll.ExactMatchLevel("name"),
                    cll.ExactMatchLevel("name_py"),
                    cll.LevenshteinLevel("name", 1),
                    cll.ElseLevel(),
                ],
                output_column_name="name",
            ),
            cl.ExactMatch("birth"),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.ExactMatch("village"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("birth", "sex"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    parts: dict[str, float] = {}
    memory = Memory()
    memory.start()
    started = time.perf_counter()
    linker = Linker([left, right], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number")], recall=0.98
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=args.splink_u_pairs, seed=args.seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth", "sex", "village")
    )
    parts["train"] = time.perf_counter() - started
    started = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=args.splink_threshold)
    parts["predict"] = time.perf_counter() - started
    # One-to-one: keep a pair when each side is the other's best (ties: the lower key).
    table = predictions.physical_name
    con.execute(
        f"""
        CREATE TABLE best AS
        WITH p AS (
            SELECT least(key_l, key_r) AS l, greatest(key_l, key_r) AS r, match_probability
            FROM {table}
        ), ranked AS (
            SELECT l, r,
                row_number() OVER (PARTITION BY l ORDER BY match_probability DESC, r) AS nl,
                row_number() OVER (PARTITION BY r ORDER BY match_probability DESC, l) AS nr
            FROM p
        )
        SELECT l, r FROM ranked WHERE nl = 1 AND nr = 1
        """
    )
    parts["one_to_one"] = time.perf_counter() - started - parts["predict"]
    parts["predict"] += parts["one_to_one"]
    seconds = parts["train"] + parts["predict"]
    memory.stop()
    scored = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    result = quality(con.execute("SELECT l, r FROM best").fetchall(), rows)
    missed = con.execute(
        f"""
        SELECT CASE
            WHEN r.id_valid THEN 'valid number'
            WHEN r.id_number IS NULL THEN 'no number'
            WHEN length(r.id_number) = 15 THEN '15 digits'
            WHEN left(r.id_number, 17) = left(l.id_number, 17) THEN 'wrong check character'
            ELSE 'wrong digit or swap' END
            || CASE WHEN l.name <> r.name THEN ' + homophone' ELSE '' END AS kind,
            count(*) AS n
        FROM roster l JOIN xueji r ON r.key = l.key + {RIGHT_OFFSET}
        WHERE l.key NOT IN (SELECT l FROM best WHERE r - l = {RIGHT_OFFSET})
        GROUP BY kind ORDER BY n DESC
        """
    ).fetchall()
    return {
        **result,
        "seconds": seconds,
        "rss_mb": memory.peak,
        "call_mb": memory.call_peak,
        "parts": parts,
        "notes": f"{scored:,} pairs ≥ {args.splink_threshold} before one-to-one; "
        f"u from {args.splink_u_pairs:.0e} pairs; {threads} threads; "
        + "missed: "
        + (", ".join(f"{k} {n:,}" for k, n in missed) or "none")
        + "; "
        + memory.note(),
    }


if __name__ == "__main__":
    sys.exit(main())
