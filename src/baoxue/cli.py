"""The `baoxue` command: init, serve, import, reconcile, cases, manage.

The data dir is chosen before Django starts, since settings read it at import time.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any


def _setup(data_dir: str | None) -> None:
    if data_dir:
        os.environ["BAOXUE_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baoxue.settings")
    import django

    django.setup()


def _instance_problem() -> str | None:
    """Why this data directory cannot be worked on yet, in words (None: it can): never set up,
    or set up by an older release and not upgraded."""
    from django.conf import settings
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        tables = connection.introspection.table_names()
    except DatabaseError:  # no database there at all (the directory does not exist)
        tables = []
    if "accounts_user" not in tables:
        return (
            f"数据目录 {settings.DATA_DIR} 还没有建立：请先运行 baoxue init --data-dir …"
            "（或 baoxue serve --demo 试用）。"
            f" ({settings.DATA_DIR} is not set up yet: run `baoxue init` first.)"
        )
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return (
            "数据库结构需要升级：请先运行 baoxue manage migrate（启动 baoxue serve 也会自动升级）。"
            " (The database needs upgrading: run `baoxue manage migrate` first.)"
        )
    return None


def _setup_instance(data_dir: str | None) -> bool:
    """_setup for a command that works on the instance's data: False (with the reason
    printed) when the data directory is not ready for it."""
    _setup(data_dir)
    problem = _instance_problem()
    if problem:
        print(problem, file=sys.stderr)
        return False
    return True


def _migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def _generate_password() -> str:
    # Readable aloud over the phone: no 0/O or 1/l.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def cmd_init(args: argparse.Namespace) -> int:
    code = args.township_code.strip()
    if not re.fullmatch(r"\d{9}(\d{3})?", code):
        print("township code must be 9 or 12 digits (统计用区划代码)", file=sys.stderr)
        return 2
    _setup(args.data_dir)
    from django.conf import settings
    from django.db import transaction

    from baoxue.accounts.models import Role
    from baoxue.accounts.services import Grant, user_create
    from baoxue.core.crypto import create_key_file
    from baoxue.registry.models import Region
    from baoxue.registry.services import region_create

    create_key_file(settings.DATA_DIR)
    _migrate()
    code9 = code[:9]
    if Region.objects.filter(code=code9 + "000").exists():
        print(f"this data dir already holds township {code9}", file=sys.stderr)
        return 1
    from baoxue.accounts.models import User

    if User.objects.filter(username=args.admin_username).exists():
        print(
            f"user {args.admin_username!r} already exists; choose another --admin-username",
            file=sys.stderr,
        )
        return 1
    password = args.admin_password or _generate_password()
    if args.admin_password:
        # Checked before anything is written, with the same rules as the site's own password
        # page; the reasons are printed, not raised as a traceback.
        from django.contrib.auth.password_validation import validate_password
        from django.core.exceptions import ValidationError

        try:
            validate_password(
                password, User(username=args.admin_username, display_name="系统管理员")
            )
        except ValidationError as error:
            print("管理员密码太弱，乡镇和管理员账号都没有创建：", file=sys.stderr)
            for message in error.messages:
                print(f"  - {message}", file=sys.stderr)
            print("请换一个更强的密码（--admin-password），或不填，由系统生成。", file=sys.stderr)
            return 2
    with transaction.atomic():
        county = Region.objects.filter(level="county", code=code9[:6] + "000000").first()
        if county is None:
            county = region_create(
                name=args.county_name or f"{code9[:6]}县", level="county", code=code9[:6] + "000000"
            )
        township = region_create(
            name=args.township_name, level="township", parent=county, code=code9 + "000"
        )
        user_create(
            actor=None,
            username=args.admin_username,
            password=password,
            display_name="系统管理员",
            grants=[Grant(Role.ADMIN), Grant(Role.TOWNSHIP_OFFICE, region=township)],
            is_superuser=True,
            check_password=bool(args.admin_password),
        )
    print(f"Baoxue instance ready in {settings.DATA_DIR}")
    print(f"  township: {township.name} ({code9})")
    print(f"  admin account: {args.admin_username}  password: {password}")
    if not args.admin_password:
        print("  (the password is shown only now; write it down)")
    return 0


def _create_demo(password: str | None) -> None:
    from baoxue.core import jobs
    from baoxue.demo.services import demo_create, demo_is_needed

    if not demo_is_needed():
        print("Data dir already has data; demo not created.")
        return
    password = password or _generate_password()
    accounts = demo_create(password=password, progress=jobs.progress_line("演示乡镇 demo township"))
    print("\nDemo township 培秀苗族乡 created. Accounts (all with the same password):")
    for account in accounts:
        print(f"  {account.username:<10} {account.role_label:<14} {account.where}")
    print(f"  password: {password}\n")


def _key_problem() -> str | None:
    from baoxue.core.crypto import check_key_matches
    from baoxue.registry.models import Child

    sample = list(
        Child.objects.exclude(id_number_enc="").values_list("id_number_enc", flat=True)[:20]
    )
    return check_key_matches(sample)


def cmd_serve(args: argparse.Namespace) -> int:
    _setup(args.data_dir)
    from django.conf import settings
    from django.core.management import call_command

    _migrate()
    problem = _key_problem()
    if problem:
        print(f"Refusing to start: {problem}", file=sys.stderr)
        return 1
    call_command("collectstatic", interactive=False, verbosity=0)
    from baoxue.imports.services import sweep_orphan_files

    swept = sweep_orphan_files()
    if swept:
        print(
            f"已删除 {swept} 个中断的导入留下的文件 (deleted {swept} stored import file(s)"
            " that no import lists: left by an interrupted import)"
        )
    if args.demo:
        _create_demo(args.demo_password)

    stopping = threading.Event()
    # The sweep (old exports, files of imports that will never be committed) runs beside the
    # worker: at start and every SWEEP_SECONDS, not only when someone exports again.
    threading.Thread(target=_sweep_every, args=(stopping,), name="sweep", daemon=True).start()
    worker = None
    if not args.no_worker:
        # The task worker runs beside the web server as its own process so that a long import
        # never blocks a request; both stop together, and a worker that dies is started again.
        worker = _WorkerSupervisor(
            [sys.executable, "-m", "baoxue.core.tasks_worker", "--interval", "1"],
            env={**os.environ, "BAOXUE_DATA_DIR": str(settings.DATA_DIR)},
            stopping=stopping,
        )
        worker.start()

    from waitress.server import create_server

    from baoxue.wsgi import application

    server = create_server(application, host=args.host, port=args.port, threads=args.threads)

    def stop(signum: int, frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        print("\nStopping Baoxue…", flush=True)
        server.close()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"Baoxue serving on http://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
    try:
        server.run()
    except (OSError, ValueError):
        if not stopping.is_set():
            raise
    finally:
        stopping.set()
        if worker is not None:
            worker.stop()
    return 0


SWEEP_SECONDS = 3600


def _sweep() -> dict[str, int]:
    """Delete what children's data must not outlive: ledger exports after their seven days,
    the stored files of imports cancelled (at once) or refused or failed (after seven days),
    the identifying data of children aged out BAOXUE_ARCHIVE_AFTER_YEARS ago; encrypt files
    an older version stored in clear. Audited."""
    from baoxue.cases.exports import sweep_exports
    from baoxue.cases.retention import archive_aged_out
    from baoxue.core.services import log_action
    from baoxue.core.storage import encrypt_stored_files
    from baoxue.imports.services import sweep_batch_files

    done = {
        "exports": sweep_exports(),
        "import_files": sweep_batch_files(),
        # Files stored in clear by a version before stored files were encrypted.
        "encrypted_files": encrypt_stored_files(),
        "archived_children": archive_aged_out(),
    }
    if any(done.values()):
        log_action(actor=None, action="instance.swept", data=done)
    return done


def _sweep_every(stopping: threading.Event) -> None:
    while not stopping.is_set():
        try:
            done = _sweep()
            if any(done.values()):
                print(_swept_line(done), flush=True)
        except Exception as exc:  # a failed sweep must not stop the service: tried again later
            print(f"清理失败（下次再试）：{exc}", file=sys.stderr, flush=True)
        finally:
            from django.db import connection

            connection.close()
        stopping.wait(SWEEP_SECONDS)


def cmd_sweep(args: argparse.Namespace) -> int:
    """The sweep once, for cron on a server that runs its workers without `serve`."""
    if not _setup_instance(args.data_dir):
        return 2
    print(_swept_line(_sweep()))
    return 0


def _swept_line(done: dict[str, int]) -> str:
    return (
        f"已清理：过期导出 {done['exports']} 个，不再导入的文件 {done['import_files']} 个，"
        f"加密旧文件 {done['encrypted_files']} 个，"
        f"归档超龄多年的儿童 {done['archived_children']} 名"
    )


class _WorkerSupervisor:
    """Runs the task worker and starts it again whenever it exits while serve runs, saying
    why it exited (its exit code or signal). A worker that keeps dying at once is started
    again after a growing pause (1 s, 2 s, 4 s … up to a minute), not in a tight loop; one
    that ran for a minute starts again at once."""

    MAX_PAUSE = 60.0
    STEADY_SECONDS = 60.0

    def __init__(self, command: list[str], env: dict[str, str], stopping: threading.Event) -> None:
        self.command = command
        self.env = env
        self.stopping = stopping
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="worker supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self.thread.start()

    def _spawn(self) -> None:
        with self.lock:
            if not self.stopping.is_set():
                self.process = subprocess.Popen(self.command, env=self.env)  # noqa: S603
                print(
                    f"后台任务进程已启动 task worker started (pid {self.process.pid})", flush=True
                )

    def _run(self) -> None:
        pause = 1.0
        while not self.stopping.is_set():
            process = self.process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started >= self.STEADY_SECONDS:
                pause = 1.0
            print(
                f"后台任务进程已退出（{_exit_reason(code)}），{pause:.0f} 秒后重新启动"
                f" (task worker pid {process.pid} exited: {_exit_reason(code)};"
                f" restarting in {pause:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
            if self.stopping.wait(pause):
                return
            pause = min(pause * 2, self.MAX_PAUSE)
            self._spawn()

    def stop(self) -> None:
        with self.lock:
            process = self.process
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        self.thread.join(timeout=5)


def _exit_reason(code: int) -> str:
    """'exit code 1', or the signal that ended the process: 'signal SIGKILL'."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def cmd_import(args: argparse.Namespace) -> int:
    """Import a file from the shell: the same pipeline as the web page, with a progress line.
    Exits 1 when the file is refused, 2 when the command cannot run (no such file, source or
    account, or an account that may not import it), 0 otherwise (rejected rows are reported,
    not fatal)."""
    if not _setup_instance(args.data_dir):
        return 2
    from django.conf import settings
    from django.core.exceptions import PermissionDenied
    from django.db.models import Q

    from baoxue.core import jobs

    # The page's limits on what a file may hold, unless the operator raises them for this
    # one run (this process imports one file and ends).
    for flag, name in (
        ("max_rows", "BAOXUE_IMPORT_MAX_ROWS"),
        ("max_unpacked_mb", "BAOXUE_IMPORT_MAX_UNPACKED_MB"),
        ("max_csv_mb", "BAOXUE_IMPORT_MAX_CSV_MB"),
    ):
        if getattr(args, flag) is not None:
            setattr(settings, name, getattr(args, flag))

    from baoxue.accounts.models import User
    from baoxue.core.services import log_action
    from baoxue.imports import pipeline
    from baoxue.imports.reading import FileRefused
    from baoxue.imports.registry import SOURCES, import_grants
    from baoxue.imports.report import write_column_report, write_error_report
    from baoxue.imports.services import (
        discard_unrecorded_file,
        grant_for,
        record_command_line_import,
        remembered_mapping,
    )
    from baoxue.imports.sources.base import Action

    if args.source not in SOURCES:
        print(f"unknown source {args.source!r}; one of: {', '.join(SOURCES)}", file=sys.stderr)
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    user = User.objects.filter(username=args.user).first()
    if user is None:
        print(f"no such user: {args.user}", file=sys.stderr)
        return 2
    key = ""
    default_school = None
    if args.into:
        key = next((g.key for g in import_grants(user, args.source) if args.into in g.names), "")
        if not key and args.source == "enrollment":
            # A school of a township the account imports into: its own export, which has
            # no school column, goes to that school.
            from baoxue.registry.models import School

            for g in import_grants(user, args.source):
                if g.school is None and g.village_ids is None:
                    default_school = (
                        School.objects.filter(township=g.township, is_outside_area=False)
                        .filter(Q(code=args.into) | Q(name=args.into))
                        .first()
                    )
                    if default_school is not None:
                        key = g.key
                        break
        if not key:
            print(
                f"--into {args.into}：账号 {user.username} 不能导入到这个学校或乡镇"
                " (not a school or township this account imports into)",
                file=sys.stderr,
            )
            return 2
    try:
        grant = grant_for(user, args.source, key=key)
    except PermissionDenied as exc:
        grants = import_grants(user, args.source)
        if len(grants) > 1:
            choices = "; ".join(
                f"{(g.school.code if g.school else g.township.code) or '—'} {g.label}"
                for g in grants
            )
            print(f"{exc} (say which with --into: {choices})", file=sys.stderr)
            return 2
        print(
            f"不能导入 not allowed: {exc}（账号 account {user.username}）"
            " 请用 --user 指定有导入权限的账号，如乡镇控辍保学办公室的账号"
            " (use --user with an account that may import this source, e.g. the township office)",
            file=sys.stderr,
        )
        return 2
    # --village 乌玲村=乌岭村 (a typo of a known village) or 乌玲村=新 (a new village).
    from baoxue.imports.places import Places

    known = Places(grant.township) if args.village else None
    decisions: dict[str, str] = {}
    for answer in args.village or []:
        assert known is not None
        name, _sep, value = answer.partition("=")
        if not name or not value:
            print(f"--village {answer}: 应写成 新村名=已有村名 或 新村名=新", file=sys.stderr)
            return 2
        is_new = value.strip() in {"新", "新的村", "new"}
        decisions[known.key_of(name)] = "" if is_new else known.key_of(value)
        if not is_new and decisions[known.key_of(name)] not in known.villages:
            print(f"--village {answer}: 没有“{value}”这个村 (no such village)", file=sys.stderr)
            return 2
    ctx = pipeline.ImportContext(
        village_decisions=decisions,
        actor=user,
        township=grant.township,
        school=grant.school,
        village_ids=grant.village_ids,
        complete_list=not args.partial,
        default_school=default_school,
    )
    progress = jobs.staged_progress_line(
        {"validate": "校验 validate", "commit": "写入 commit"}, default=""
    )

    recorded: list[Any] = []

    def record(outcome: pipeline.Outcome) -> None:
        # In the commit's transaction: the history's batch and the rows, or neither.
        recorded.append(
            record_command_line_import(
                actor=user, source=args.source, path=path, grant=grant, ctx=ctx, outcome=outcome
            )
        )

    try:
        outcome = pipeline.run(
            path,
            SOURCES[args.source],
            ctx,
            remembered=remembered_mapping(args.source),
            commit=not args.dry_run,
            progress=progress,
            on_committed=record,
        )
    except FileRefused as exc:
        print(f"文件无法导入 refused: {exc}", file=sys.stderr)
        for q in exc.villages:
            print(
                f"  --village {q['name']}={q['like']}  (a typo of {q['like']})"
                f"  or  --village {q['name']}=新  (a new village)",
                file=sys.stderr,
            )
        if args.errors and (exc.missing or exc.headers):
            # The columns it saw and what each was taken as: the headers to fix, or to map.
            write_column_report(Path(args.errors), exc.headers, exc.mapping, exc.missing)
            print(f"  列对应 columns: {args.errors}", file=sys.stderr)
        return 1
    except BaseException:
        # The commit rolled back after the history's batch stored its copy of the file
        # (interrupted, a write that failed): the copy goes too, no child's data is left
        # behind unlisted.
        for batch in recorded:
            discard_unrecorded_file(batch)
        raise
    if args.errors:
        write_error_report(
            Path(args.errors), outcome.table.headers, outcome.issues, outcome.originals
        )
        # Children's names and rows leave the system in this file, as in the page's download.
        log_action(
            actor=user,
            action="import.errors_downloaded",
            obj=recorded[0] if recorded else None,
            data={
                "via": "cli",
                "source": args.source,
                "rows": len({i.row_number for i in outcome.issues}),
                "dry_run": bool(args.dry_run),
            },
        )
    verb = "would be" if args.dry_run else "were"
    print(
        f"{outcome.rows_total} rows: {outcome.count(Action.CREATE)} {verb} created, "
        f"{outcome.count(Action.UPDATE)} updated, {outcome.count(Action.UNCHANGED)} unchanged, "
        f"{outcome.rejected_rows} rejected, {outcome.skipped_rows} skipped, "
        f"{outcome.warned_rows} with warnings"
    )
    absent = ctx.notes.get("absent_from_list", {}).get("schools", {})
    for school, n in absent.items():
        verb = "would be" if args.dry_run else "were"
        print(f"  {school}: {n} current students not in the file {verb} marked (use --partial)")
    if ctx.notes.get("adults_skipped"):
        print(
            f"  成年人 adults: {ctx.notes['adults_skipped']} skipped"
            " (taken only as heads of household and guardians)"
        )
    grade_from = ctx.notes.get("grade_from", {})
    if grade_from:
        how = {
            "class": "班级名称 class name",
            "cohort": "届别 class year",
            "entry": "入学年月 entry",
        }
        print(
            "  年级推算 grades derived (no 年级 column): "
            + ", ".join(f"{n} by {how[k]}" for k, n in grade_from.items())
        )
    for issue in outcome.issues[:20]:
        print(f"  row {issue.row_number} {issue.column}: [{issue.severity}] {issue.message}")
    if len(outcome.issues) > 20:
        print(f"  … {len(outcome.issues) - 20} more (use --errors OUT.xlsx)")
    if recorded:
        print(f"  导入记录 history: /imports/{recorded[0].public_id}/")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Run a reconciliation from the shell with a progress line; optionally export a ledger.
    Exits 1 when the run fails or is not allowed, 0 otherwise."""
    if not _setup_instance(args.data_dir):
        return 2
    from django.core.exceptions import PermissionDenied, ValidationError

    from baoxue.accounts.models import User
    from baoxue.accounts.permissions import can_reveal_id_number
    from baoxue.core import jobs
    from baoxue.core.services import log_action
    from baoxue.reconcile import ledgers, services
    from baoxue.reconcile.models import CATEGORY_LABELS
    from baoxue.registry.models import Region

    user = None
    if args.user:
        user = User.objects.filter(username=args.user).first()
        if user is None:
            print(f"no such user: {args.user}", file=sys.stderr)
            return 2
    area = None
    if args.township:
        area = Region.objects.filter(code=args.township, level__in=["township", "county"]).first()
        if area is None:
            print(f"no township or county with code {args.township}", file=sys.stderr)
            return 2
    elif user is None:
        townships = list(Region.objects.filter(level="township")[:2])
        if len(townships) != 1:
            print("several townships: say which with --township CODE", file=sys.stderr)
            return 2
        area = townships[0]
    as_of = None
    if args.as_of:
        try:
            as_of = date.fromisoformat(args.as_of)
        except ValueError:
            print(f"--as-of: not a date (YYYY-MM-DD): {args.as_of}", file=sys.stderr)
            return 2
    try:
        run = services.run_create(actor=user, area=area, as_of=as_of)
    except (PermissionDenied, ValidationError) as exc:
        print(f"不能比对 not allowed: {exc}", file=sys.stderr)
        return 1
    _print_missing_lists(services.list_states(run.area, as_of or date.today()))
    progress = jobs.staged_progress_line(
        {"load": "读取 load", "link": "关联 link", "categorize": "分类", "save": "保存 save"},
        default="比对 reconcile",
    )

    try:
        services.run_execute(run, progress=progress)
    except Exception as exc:  # recorded on the run; the shell gets the reason
        print(f"比对失败 failed: {exc}", file=sys.stderr)
        return 1
    print(f"{run.area.name}: {run.inputs['children']} children in {run.seconds:.1f}s")
    print(
        f"比对日期 as of {run.settings['as_of']} (cut-off {run.settings['cutoff']})"
        + (
            "; an earlier school year: report only, no cases opened"
            if run.settings["report_only"]
            else ""
        )
    )
    for category, count in run.counts.items():
        if count:
            print(f"  {CATEGORY_LABELS[category]} {category}: {count}")
    changes = run.changes
    print(
        f"since the last run: {changes['new']} new, {changes['resolved']} resolved; "
        f"cases opened {changes['cases_opened']}, links to review {run.links.get('review', 0)}"
    )
    if args.export:
        path = Path(args.export)
        full = user is None or can_reveal_id_number(user)
        if path.suffix.lower() == ".csv":
            with path.open("w", encoding="utf-8-sig", newline="") as handle:
                count = ledgers.write_csv(handle, run, "children", user, full_ids=full)
        else:
            count = ledgers.write_xlsx(path, run, "children", user, full_ids=full)
        log_action(
            actor=user,
            action="reconcile.ledger_exported",
            obj=run,
            data={"kind": "children", "rows": count, "via": "cli", "full_ids": full},
        )
        print(f"wrote {count} rows to {path}")
    if args.discrepancies:
        count = _write_discrepancies(Path(args.discrepancies), user, run.area)
        print(f"信息不一致 discrepancies: wrote {count} rows to {args.discrepancies}")
    return 0


def _print_missing_lists(states: dict[str, Any]) -> None:
    """The schools and villages whose list for the term has not come, before a run."""
    missing = [x for kind in ("schools", "villages") for x in states[kind] if x.missing]
    if not missing:
        return
    print(f"名单未更新 lists not in for the term {states['term']} (from {states['term_start']}):")
    for x in missing:
        kind = "学籍" if x.kind == "school" else "户籍"
        latest = f"latest {x.latest}" if x.latest else "never imported"
        print(f"  {x.name} {kind}: {latest}")


def _write_discrepancies(path: Path, user: Any, area: Any) -> int:
    """The open discrepancies of the area (in the user's scope when one is named), as xlsx
    or csv: whole ID numbers for the shell and for roles that may reveal them; logged."""
    from baoxue.accounts.permissions import can_reveal_id_number
    from baoxue.core import sheets
    from baoxue.core.services import log_action
    from baoxue.registry import selectors

    full = user is None or can_reveal_id_number(user)
    found = selectors.discrepancies(user, area=area)
    rows = selectors.discrepancy_rows(found, full_ids=full)
    headers = [str(h) for h in selectors.DISCREPANCY_HEADERS]
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            count = sheets.write_csv(handle, headers=headers, rows=rows)
    else:
        count = sheets.write_xlsx(
            path,
            sheet="信息不一致",
            title=f"{area.name} 信息不一致清单",
            headers=headers,
            rows=rows,
            widths={1: 10, 2: 21, 3: 22, 5: 14, 6: 14, 7: 20, 8: 18},
        )
    log_action(
        actor=user,
        action="discrepancy.exported",
        obj=area,
        data={"rows": count, "via": "cli", "full_ids": full},
    )
    return count


def cmd_cases(args: argparse.Namespace) -> int:
    """The cases a user sees, counted by state, and the 辍学台账 written with a progress line."""
    if not _setup_instance(args.data_dir):
        return 2
    from django.db.models import Count

    from baoxue.accounts.models import User
    from baoxue.cases import ledger, selectors
    from baoxue.cases.models import Case
    from baoxue.core import jobs
    from baoxue.core.services import log_action

    user = None
    if args.user:
        user = User.objects.filter(username=args.user).first()
        if user is None:
            print(f"no such user: {args.user}", file=sys.stderr)
            return 2
    filters = selectors.CaseFilters(
        status=args.status, overdue=args.overdue, unassigned=args.unassigned
    )
    # Without --user: every case of the instance (the shell is the server's operator).
    cases = (
        selectors.case_list(user, filters)
        if user is not None
        else selectors.apply_filters(Case.objects.all(), filters)
    )
    counts = dict(
        cases.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    total = sum(counts.values())
    print(f"{total} cases ({args.status})")
    for status in Case.Status:
        if counts.get(status.value):
            print(f"  {status.label} {status.value}: {counts[status.value]}")
    if args.export:
        path = Path(args.export)
        show = jobs.progress_line("辍学台账 ledger")
        ledger.write(
            user, cases, path=path, full_ids=user is None or None, progress=lambda d: show(d, total)
        )
        log_action(
            actor=user,
            action="case.ledger_exported",
            data={"rows": total, "via": "cli", "status": args.status},
        )
        print(f"wrote {total} rows to {path}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """The database, the stored files and (in a file of its own) the field key."""
    if not _setup_instance(args.data_dir):
        return 2
    from baoxue.backup import BackupError, backup, key_path_for
    from baoxue.core.services import log_action

    out = Path(args.out)
    try:
        manifest = backup(out, say=print)
    except BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    log_action(actor=None, action="instance.backed_up", data={"out": str(out), "via": "cli"})
    counts = manifest["counts"]
    print(f"备份完成：{out}（儿童 {counts['children']}，案件 {counts['cases']}）")
    print(f"字段密钥另存在 {key_path_for(out)}：请与备份分开保管，没有它备份中的身份证号无法读取。")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """A backup back into this data directory and database, upgraded, its numbers checked."""
    _setup(args.data_dir)
    from baoxue.backup import BackupError, restore

    try:
        done = restore(
            Path(args.source),
            key=Path(args.key) if args.key else None,
            force=args.force,
            say=print,
        )
    except BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    counts = done["counts"]
    print(
        f"恢复完成：儿童 {counts['children']}，案件 {counts['cases']}；"
        f"已核对 {done['checked']} 个身份证号可以读取。"
    )
    return 0


def cmd_manage(argv: list[str], data_dir: str | None) -> int:
    _setup(data_dir)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["baoxue manage", *argv])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baoxue", description="保学 Baoxue 控辍保学")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create an empty instance for one township")
    init.add_argument("--data-dir", required=True)
    init.add_argument("--township-code", required=True, help="9 or 12 digits")
    init.add_argument("--township-name", required=True)
    init.add_argument("--county-name", default="")
    init.add_argument("--admin-username", default="admin")
    init.add_argument("--admin-password", default="")
    init.set_defaults(func=cmd_init)

    serve = sub.add_parser("serve", help="serve the web application and the task worker")
    serve.add_argument("--demo", action="store_true", help="create a demo township if empty")
    serve.add_argument("--data-dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threads", type=int, default=8)
    serve.add_argument("--demo-password", default="")
    serve.add_argument("--no-worker", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    imp = sub.add_parser("import", help="import a spreadsheet (roster, enrollment, …)")
    imp.add_argument("source")
    imp.add_argument("file")
    imp.add_argument("--data-dir")
    imp.add_argument("--user", default="admin", help="the account the import is made as")
    imp.add_argument("--dry-run", action="store_true", help="validate and preview only")
    imp.add_argument(
        "--into",
        default="",
        help="for an account of several schools or townships: the school's or township's "
        "code or name the file is for; for a township office's 学籍 file without a school "
        "column (one school's own export): that school's 学校标识码 or name",
    )
    imp.add_argument("--errors", help="write rejected and doubtful rows to this .xlsx")
    imp.add_argument(
        "--village",
        action="append",
        metavar="NAME=KNOWN|新",
        help="a new village name that resembles a known one: the known village it is "
        "(乌玲村=乌岭村) or a new village (乌玲村=新); repeatable",
    )
    imp.add_argument(
        "--partial",
        action="store_true",
        help="学籍: the file is not the schools' whole list (do not mark students it leaves out)",
    )
    imp.add_argument(
        "--max-rows", type=int, help="refuse a file of more rows (default BAOXUE_IMPORT_MAX_ROWS)"
    )
    imp.add_argument(
        "--max-unpacked-mb",
        type=int,
        help="refuse an xlsx that unpacks to more (default BAOXUE_IMPORT_MAX_UNPACKED_MB)",
    )
    imp.add_argument(
        "--max-csv-mb", type=int, help="refuse a larger CSV (default BAOXUE_IMPORT_MAX_CSV_MB)"
    )
    imp.set_defaults(func=cmd_import)

    rec = sub.add_parser("reconcile", help="compare the lists: who is not in school (比对)")
    rec.add_argument("--data-dir")
    rec.add_argument("--township", help="the township's (or county's) region code")
    rec.add_argument("--user", help="run as this account (its scope and permissions)")
    rec.add_argument("--export", help="write the 适龄儿童少年台账 to this .xlsx or .csv")
    rec.add_argument(
        "--as-of", help="the day the run is about (YYYY-MM-DD; default today): its school year"
    )
    rec.add_argument(
        "--discrepancies",
        help="write the open 信息不一致 (lists against the registry) to .xlsx/.csv",
    )
    rec.set_defaults(func=cmd_reconcile)

    cas = sub.add_parser("cases", help="count the cases (一人一案) and export the 辍学台账")
    cas.add_argument("--data-dir")
    cas.add_argument("--user", help="the account whose cases (scope) to use; default all")
    cas.add_argument("--status", default="open", help="open, all, finished or one state")
    cas.add_argument("--overdue", action="store_true", help="only cases with a step overdue")
    cas.add_argument("--unassigned", action="store_true", help="only cases missing 双线四包")
    cas.add_argument("--export", help="write the 辍学台账 to this .xlsx")
    cas.set_defaults(func=cmd_cases)

    swp = sub.add_parser(
        "sweep",
        help="delete old exports and files of dead imports, archive long aged-out children (cron)",
    )
    swp.add_argument("--data-dir")
    swp.set_defaults(func=cmd_sweep)

    bak = sub.add_parser("backup", help="back up the database, files and (apart) the field key")
    bak.add_argument("out", help="a new directory; the key goes to OUT.field.key beside it")
    bak.add_argument("--data-dir")
    bak.set_defaults(func=cmd_backup)

    res = sub.add_parser("restore", help="restore a backup into this instance and upgrade it")
    res.add_argument("source", help="the backup directory")
    res.add_argument("--key", help="the field key file (default: SOURCE.field.key)")
    res.add_argument("--force", action="store_true", help="overwrite an instance with data")
    res.add_argument("--data-dir")
    res.set_defaults(func=cmd_restore)

    sub.add_parser("manage", help="Django management commands", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["manage"]:
        rest = argv[1:]
        data_dir = None
        if rest[:1] == ["--data-dir"] and len(rest) >= 2:
            data_dir, rest = rest[1], rest[2:]
        return cmd_manage(rest, data_dir)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
