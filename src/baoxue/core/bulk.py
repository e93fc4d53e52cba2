"""Fast inserts of many new rows, for imports: rows as dicts of column values, not model
instances.

`bulk_create` builds a model instance per row and prepares every value through the field
(tens of microseconds a row); an import of 100,000 students writes 300,000 rows. A
:class:`RowWriter` takes plain dicts keyed by attribute name (``child_id``, not ``child``),
fills the model's defaults, converts the few types the database driver does not take as they
are, and writes a chunk with multi-row INSERTs (SQLite) or ``COPY`` (PostgreSQL), here or
in a helper thread (:class:`BackgroundWrites`). :func:`indexes_deferred` builds a table's
indexes after a load that at least doubles it.

Ids are reserved before the rows are written (:meth:`RowWriter.reserve`), so that rows of
one model can point at rows of another written in the same transaction. Callers must be
inside ``transaction.atomic()``: on SQLite the transaction holds the write lock from its
start (``transaction_mode`` IMMEDIATE), so no one else can take the same ids; on PostgreSQL
the ids come from the table's sequence.

Nothing here validates: the caller has built the values the way the model's services do.
"""

from __future__ import annotations

import json
import operator
import os
import queue
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from typing import Any, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models.base import ModelState
from django.db.models.fields import NOT_PROVIDED
from django.utils import timezone

CHUNK = 2000
_R = TypeVar("_R")


def _identity(value: Any) -> Any:
    return value


def converter(f: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """What turns a Python value of the field into what the database driver takes, for the
    few types it does not take as they are (bypassing Field.get_db_prep_save, which costs more
    than the write)."""
    internal = f.get_internal_type()
    if connection.vendor == "sqlite":
        if internal == "DateField":
            return lambda v: None if v is None else v.isoformat()
        if internal == "DateTimeField":
            ops = connection.ops
            return lambda v: None if v is None else ops.adapt_datetimefield_value(v)
        if internal == "UUIDField":
            return lambda v: v if v is None or type(v) is str else v.hex
        if internal in ("DecimalField", "TimeField"):

            def prepared(v: Any) -> Any:
                return f.get_db_prep_save(v, connection)

            return prepared
    if internal == "JSONField":
        return lambda v: None if v is None else json.dumps(v)
    return _identity


class RowWriter:
    def __init__(
        self,
        model: type[models.Model],
        now: datetime | None = None,
        background: BackgroundWrites | None = None,
        *,
        columns: Sequence[str] | None = None,
    ) -> None:
        """`columns`: the attribute names of the values add() is given as tuples, in this
        order (for the largest loads: no dict a row); the model's other columns get their
        defaults. Without it, add() takes dicts."""
        self.model = model
        # Writes handed to a helper thread (BackgroundWrites), or made here.
        self.background = background
        self.table = model._meta.db_table
        self.vendor = connection.vendor
        # The primary key first: write() leaves it out when the rows carry no ids.
        self.fields = sorted(model._meta.concrete_fields, key=lambda f: not f.primary_key)
        self.pk = model._meta.pk.attname
        self.attnames = [f.attname for f in self.fields]
        self.columns = [f.column for f in self.fields]
        self.convert = [converter(f) for f in self.fields]
        # Per attribute: a constant default, or a callable to call per row (uuid4).
        self.defaults: dict[str, tuple[bool, Any]] = {}
        for f in self.fields:
            if f.primary_key:
                continue
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                self.defaults[f.attname] = (False, None)  # set by write(): one `now` per write
            elif f.default is not NOT_PROVIDED and callable(f.default):
                self.defaults[f.attname] = (True, f.default)
            else:
                self.defaults[f.attname] = (False, f.get_default())
        self.auto_now = {
            f.attname
            for f in self.fields
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        }
        self.rows: list[Any] = []
        # One time for every row's created_at/updated_at, as a bulk_create would give them.
        self.now = now or timezone.now()
        self.prepared = False
        self.written = 0
        self.tuples = columns is not None
        if columns is not None:
            self._prepare_tuples(list(columns))

    # --- ids ------------------------------------------------------------------------------
    def reserve(self, count: int) -> list[int]:
        """`count` new ids for this table, in ascending order."""
        if count <= 0:
            return []
        if self.background is not None:
            self.background.drain()  # the connection is this thread's again
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [self.table, count],
                )
                return sorted(r[0] for r in cursor.fetchall())
            # SQLite: AUTOINCREMENT never reuses an id, so start after both the largest id in
            # the table and the largest ever handed out (sqlite_sequence). Writing ids above
            # them moves sqlite_sequence on.
            quoted = connection.ops.quote_name(self.table)
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608
            top = cursor.fetchone()[0]
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table])
            seq = cursor.fetchone()
            top = max(top, seq[0] if seq else 0, getattr(self, "_handed_out", 0))
        self._handed_out = top + count
        return list(range(top + 1, top + count + 1))

    # --- rows -----------------------------------------------------------------------------
    def add(self, values: Any) -> None:
        """Queue one row: a dict by attribute name, or a tuple in the order of the writer's
        `columns`; with an id from reserve(), or without one for the database to assign
        (the same for every row of a writer). Rows are written every CHUNK rows, so a long
        import never holds them all."""
        self.rows.append(values)
        if len(self.rows) >= CHUNK:
            self._flush()

    def write(self) -> int:
        """Write what is still queued; returns how many rows this writer wrote in all."""
        self._flush()
        return self.written

    def _prepare(self, first: dict[str, Any]) -> None:
        # Rows without ids (none reserved: nothing points at them) get them from the database.
        self.skip = 0 if self.pk in first else 1
        attnames = self.attnames[self.skip :]
        convert = {
            a: c for a, c in zip(self.attnames, self.convert, strict=True) if c is not _identity
        }
        # A row that names no value for a column gets the default, converted once here;
        # callable defaults (uuid4) give one value per row, made for a whole chunk at once.
        self.base: dict[str, Any] = {}
        # Per attribute with a callable default: a function giving n values, converted.
        self.per_row: list[tuple[str, Callable[[int], list[Any]]]] = []
        for attname in attnames:
            is_callable, default = self.defaults.get(attname, (False, None))
            if is_callable:
                self.per_row.append((attname, self._maker(default, convert.get(attname))))
                continue
            value = self.now if attname in self.auto_now else default
            if value is not None and attname in convert:
                value = convert[attname](value)
            self.base[attname] = value
        self.given = list(convert.items())
        self.getter = operator.itemgetter(*attnames)
        self.prepared = True

    def _prepare_tuples(self, given: list[str]) -> None:
        unknown = sorted(set(given) - set(self.attnames))
        if unknown or len(set(given)) != len(given):
            raise ValueError(f"{self.model.__name__}: unknown or repeated columns {given}")
        column_of = dict(zip(self.attnames, self.columns, strict=True))
        convert = dict(zip(self.attnames, self.convert, strict=True))
        # A given value is converted only where the driver does not take it as it is. Dates
        # too, on SQLite, although Django registers an adapter for them: here, not in the
        # BackgroundWrites thread, which would give the interpreter lock away at each call.
        self.tuple_convert = [
            (i, convert[a]) for i, a in enumerate(given) if convert[a] is not _identity
        ]
        rest = [a for a in self.attnames if a not in given and a != self.pk]
        self.per_row = []
        tail_names: list[str] = []
        tail: list[Any] = []
        for attname in rest:
            is_callable, default = self.defaults[attname]
            if is_callable:
                self.per_row.append((attname, self._maker(default, convert.get(attname))))
                continue
            value = self.now if attname in self.auto_now else default
            if value is not None and convert[attname] is not _identity:
                value = convert[attname](value)
            tail_names.append(attname)
            tail.append(value)
        # The same values in every row: on SQLite written into the statement as literals
        # (parsed once a statement, not bound once a row, with the interpreter lock held).
        self.constants = ""
        literals = [_sql_literal(v) for v in tail] if self.vendor == "sqlite" else []
        if literals and all(literal is not None for literal in literals):
            self.constants, tail = ", ".join(cast(list[str], literals)), []
        self.tail = tuple(tail)
        written = (*given, *(a for a, _make in self.per_row))
        self.tuple_columns = [column_of[a] for a in (*written, *tail_names)]
        self.bound = len(written) + len(self.tail)

    def _flush_tuples(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        convert = self.tuple_convert
        if convert:
            converted = []
            for values in rows:
                row = list(values)
                for i, conv in convert:
                    row[i] = conv(row[i])
                converted.append(tuple(row))
            rows = converted
        tail = self.tail
        if self.per_row:
            made = list(zip(*(make(len(rows)) for _attname, make in self.per_row), strict=True))
            return [values + extra + tail for values, extra in zip(rows, made, strict=True)]
        return [values + tail for values in rows] if tail else rows

    @staticmethod
    def _maker(
        default: Callable[[], Any], conv: Callable[[Any], Any] | None
    ) -> Callable[[int], list[Any]]:
        if default is uuid.uuid4:
            # public_id: the 32 hex digits both databases take, made many at a time
            # (uuid4() reads the system's random source once a call), in ascending order.
            return uuid7_hexes
        conv = conv or _identity
        return lambda n: [conv(default()) for _i in range(n)]

    def _flush(self) -> None:
        rows, self.rows = self.rows, []
        if not rows:
            return
        if self.tuples:
            chunk = self._flush_tuples(rows)
            args = (chunk, self.tuple_columns, self.bound, self.constants)
            if self.background is not None:
                self.background.submit(self._write, *args)
            else:
                self._write(*args)
            self.written += len(chunk)
            return
        if not self.prepared:
            self._prepare(rows[0])
        base, given, getter = self.base, self.given, self.getter
        fills = [(attname, make(len(rows))) for attname, make in self.per_row]
        chunk = []
        for i, values in enumerate(rows):
            row = base.copy()
            for attname, made in fills:
                if attname not in values:
                    row[attname] = made[i]
            row.update(values)
            for attname, conv in given:
                value = values.get(attname)
                if value is not None:
                    row[attname] = conv(value)
            chunk.append(getter(row))
        if self.background is not None:
            self.background.submit(self._write, chunk, self.columns[self.skip :])
        else:
            self._write(chunk, self.columns[self.skip :])
        self.written += len(chunk)

    def _write(
        self,
        rows: list[tuple[Any, ...]],
        columns: list[str],
        bound: int | None = None,
        constants: str = "",
    ) -> None:
        """Write rows of `columns`' values; on SQLite the first `bound` columns may be given
        and the rest be `constants`, SQL literals the same in every row."""
        bound = len(columns) if bound is None else bound
        qn = connection.ops.quote_name
        cols = ", ".join(qn(c) for c in columns)
        # Bypassing Django's cursor wrapper, so its error translation is applied here: callers
        # catch django.db.IntegrityError as with any other write.
        with connection.cursor() as cursor, connection.wrap_database_errors:
            if self.vendor == "postgresql":
                raw = cursor.cursor  # psycopg's own cursor: COPY
                with raw.copy(f"COPY {qn(self.table)} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                # Many rows a statement: SQLite does a statement's work in one call that lets
                # go of the interpreter lock, so a BackgroundWrites thread overlaps it.
                # Django's cursor class, whose execute() rewrites the statement's %s
                # placeholders with a regular expression (a tenth of the thread's time on
                # statements this long) is passed by: sqlite3's own execute, "?" given.
                raw = cursor.cursor
                execute = sqlite3.Cursor.execute
                limit = raw.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                per = max(1, min(500, limit // max(1, bound)))
                marks = "(" + ", ".join(["?"] * bound + ([constants] if constants else [])) + ")"
                insert = f"INSERT INTO {qn(self.table)} ({cols}) VALUES "  # noqa: S608
                full = insert + ", ".join([marks] * per)
                for start in range(0, len(rows), per):
                    part = rows[start : start + per]
                    sql = full if len(part) == per else insert + ", ".join([marks] * len(part))
                    execute(raw, sql, list(chain.from_iterable(part)))


def _sql_literal(value: Any) -> str | None:
    """A column default as an SQLite literal; None for a value not written this way."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


_UUID7_VERSION = 0x7 << 76
_UUID7_VARIANT = 0x2 << 62
_UUID7_RANDOM = (1 << 74) - 1
_uuid7_last = 0
_uuid7_lock = threading.Lock()


def uuid7_hexes(count: int) -> list[str]:
    """`count` time-ordered (version 7, RFC 9562) UUIDs as 32 hex digits, ascending, from
    one read of os.urandom: 48 bits of Unix time in milliseconds, then 74 random bits.

    A table's unique public_id index takes them as appends instead of inserts at random
    places (on SQLite, where that index cannot be deferred, the difference is a third of a
    big load's inserts). The random bits keep them as unguessable as uuid4's 122; what they
    add is the millisecond the row was written, which its created_at says anyway. Each call
    starts after the last one's millisecond, so the values of a load keep ascending across
    chunks even when the clock does not move on between them."""
    global _uuid7_last
    if count <= 0:
        return []
    with _uuid7_lock:
        ms = max(time.time_ns() // 1_000_000, _uuid7_last + 1)
        _uuid7_last = ms
    raw = os.urandom(10 * count)
    from_bytes = int.from_bytes
    high = (ms << 80) | _UUID7_VERSION
    randoms = sorted(from_bytes(raw[i : i + 10]) & _UUID7_RANDOM for i in range(0, 10 * count, 10))
    # The 74 random bits: 12 beside the version digit, 62 after the variant bits.
    return [
        "%032x" % (high | ((r >> 62) << 64) | _UUID7_VARIANT | (r & ((1 << 62) - 1)))
        for r in randoms
    ]


@contextmanager
def connection_lent() -> Iterator[Callable[[Callable[[], _R]], Callable[[], _R]]]:
    """Lends this thread's default connection to helper threads for the block.

    Yields a wrapper: ``lent(fn)`` is fn to be run in a helper thread, on this connection
    (inside this thread's transaction, if any) instead of a new one of its own, as Django's
    live test server does. The caller must not use the connection while a helper does.
    """
    lender = connections[DEFAULT_DB_ALIAS]

    def lent(fn: Callable[[], _R]) -> Callable[[], _R]:
        def run() -> _R:
            connections[DEFAULT_DB_ALIAS] = lender
            try:
                return fn()
            finally:
                del connections[DEFAULT_DB_ALIAS]

        return run

    lender.inc_thread_sharing()
    try:
        yield lent
    finally:
        lender.dec_thread_sharing()


class BackgroundWrites:
    """A helper thread that makes RowWriters' database writes, in the order they are handed
    over, while the caller's thread builds the next rows: the database's own work (SQLite's
    insert, PostgreSQL's server process) then runs beside the Python that prepares the rows.

    The helper uses the caller's connection, inside the caller's transaction. The caller must
    not touch the database while writes are pending: drain() (which RowWriter.reserve calls)
    waits for them. At most two chunks wait, so memory stays flat. An error in the helper is
    raised in the caller's thread at its next hand-over or drain, so the transaction rolls
    back as for any other write; leaving the block on an error waits for the helper to stop
    first, so nothing writes while the rollback runs.
    """

    def __init__(self, *, small_cache: bool = False) -> None:
        # An append-only load (indexes deferred) needs few pages cached; on SQLite the cache is
        # the helper thread's memory, which the caller's thread cannot reuse afterwards.
        self.small_cache = small_cache and connection.vendor == "sqlite"
        self.pending: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=2
        )
        self.error: BaseException | None = None
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.lending = connection_lent()

    def __enter__(self) -> BackgroundWrites:
        if self.small_cache:
            with self.connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size")
                self.cache_size = cursor.fetchone()[0]
                cursor.execute("PRAGMA cache_size = -24000")
        lent = self.lending.__enter__()
        self.thread = threading.Thread(target=lent(self._run), name="bulk-writes", daemon=True)
        # The helper takes the interpreter lock back as soon as a statement ends instead of
        # after the default 5 ms.
        self.switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch, 0.0005))
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self.drain()
            else:
                self.error = self.error or RuntimeError("stopped")  # skip what is queued
        finally:
            self.pending.put(None)
            self.thread.join()
            sys.setswitchinterval(self.switch)
            self.lending.__exit__(None, None, None)
            if self.small_cache:
                with self.connection.cursor() as cursor:
                    cursor.execute(f"PRAGMA cache_size = {int(self.cache_size)}")

    def _run(self) -> None:
        while (job := self.pending.get()) is not None:
            try:
                if self.error is None:
                    job[0](*job[1])
            except BaseException as exc:  # handed to the caller's thread
                self.error = exc
            finally:
                self.pending.task_done()
        self.pending.task_done()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, write: Callable[..., Any], *args: Any) -> None:
        self._raise()
        self.pending.put((write, args))

    def drain(self) -> None:
        self.pending.join()
        self._raise()


def write_all(writers: Iterable[RowWriter]) -> dict[str, int]:
    """Write what several writers still hold; rows written per model (all written, when
    they write in the background)."""
    writers = list(writers)
    written = {w.model.__name__: w.write() for w in writers}
    for background in {id(w.background): w.background for w in writers if w.background}.values():
        background.drain()
    return written


# --- updating many rows -------------------------------------------------------------------------
_UPDATES = iter(range(1, 1 << 62))


def update_rows(
    model: type[models.Model], fields: list[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """UPDATE many rows of `model`, each given once as (pk, value of fields[0], value of
    fields[1], …), Python values as the model holds them (a foreign key, named ``school``,
    given as its id). Returns how many rows were given.

    Django's bulk_update writes a CASE WHEN per column over each batch, which the database
    parses and evaluates per row: minutes for 100,000 rows. Here SQLite runs one prepared
    UPDATE per row from C (executemany), and PostgreSQL updates from a temporary table filled
    by COPY (one join). All or nothing (a savepoint inside the caller's transaction); auto_now
    fields are not touched (give them as fields, as with bulk_update)."""
    meta = model._meta
    concrete = [cast("models.Field[Any, Any]", meta.get_field(name)) for name in fields]
    pk_field = meta.pk
    assert pk_field is not None
    table = meta.db_table
    qn = connection.ops.quote_name
    conv = [converter(f) for f in concrete]
    pk_conv = converter(pk_field)
    columns = [str(f.column) for f in concrete]
    pk = qn(str(pk_field.column))
    count = 0
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if connection.vendor == "postgresql":
            temp = f"bulk_update_{os.getpid()}_{next(_UPDATES)}"
            listed = ", ".join(qn(c) for c in [str(pk_field.column), *columns])
            raw.execute(
                f"CREATE TEMPORARY TABLE {qn(temp)} AS "  # noqa: S608
                f"SELECT {listed} FROM {qn(table)} WITH NO DATA"
            )
            with raw.copy(f"COPY {qn(temp)} ({listed}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [pk_conv(row[0]), *[c(v) for c, v in zip(conv, row[1:], strict=True)]]
                    )
                    count += 1
            sets = ", ".join(f"{qn(c)} = t.{qn(c)}" for c in columns)
            raw.execute(
                f"UPDATE {qn(table)} SET {sets} FROM {qn(temp)} AS t "  # noqa: S608
                f"WHERE {qn(table)}.{pk} = t.{pk}"
            )
            # On an error the block's savepoint takes the temporary table away with the rest.
            raw.execute(f"DROP TABLE {qn(temp)}")
            return count
        sets = ", ".join(f"{qn(c)} = ?" for c in columns)
        sql = f"UPDATE {qn(table)} SET {sets} WHERE {pk} = ?"  # noqa: S608
        batch: list[list[Any]] = []
        for row in rows:
            batch.append([*[c(v) for c, v in zip(conv, row[1:], strict=True)], pk_conv(row[0])])
            if len(batch) >= CHUNK:
                raw.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            raw.executemany(sql, batch)
            count += len(batch)
    return count


def update_objects(objs: Iterable[models.Model], fields: list[str]) -> int:
    """update_rows() for model instances, as bulk_update(objs, fields) takes them."""
    objs = list(objs)
    if not objs:
        return 0
    model = type(objs[0])
    meta = model._meta
    attnames = [cast("models.Field[Any, Any]", meta.get_field(name)).attname for name in fields]
    get = operator.attrgetter(*attnames)
    if len(attnames) == 1:
        return update_rows(model, fields, ((o.pk, get(o)) for o in objs))
    return update_rows(model, fields, ((o.pk, *get(o)) for o in objs))


def instances(queryset: models.QuerySet[Any], fields: Iterable[str] = ()) -> Iterator[Any]:
    """The queryset's rows as model instances holding `fields` (attribute names, the primary
    key always; all concrete fields by default), as ``queryset.only(*fields)`` gives them but
    built without Model.from_db: its __init__ sets every field by a descriptor and sends two
    signals, several times the cost of reading the row when an import loads 100,000. A field
    left out loads on first use, as a deferred one does."""
    model: type[models.Model] = queryset.model
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    names = list(fields) or [f.attname for f in meta.concrete_fields]
    attnames = [pk.attname] + [
        a
        for a in (cast("models.Field[Any, Any]", meta.get_field(n)).attname for n in names)
        if a != pk.attname
    ]
    new, db = object.__new__, queryset.db
    for values in queryset.values_list(*attnames):
        obj = new(model)
        obj.__dict__.update(zip(attnames, values, strict=True))
        state = ModelState()
        state.adding, state.db = False, db
        obj._state = state
        yield obj


def filter_in(
    queryset: models.QuerySet[Any],
    column: str,
    values: list[Any],
    chunk: int = 5000,
    *,
    fields: Iterable[str] | None = None,
) -> Iterable[Any]:
    """The rows of `queryset` whose `column` is one of `values` (thousands of them), a chunk
    at a time. The same as filter(column__in=…) without Django preparing each value through
    the field, which costs more than the query when the values are 64-character hashes. On
    PostgreSQL a chunk is one array parameter (= ANY(%s)), which the server parses at once
    instead of thousands of placeholders; `chunk` is then at least 50,000.

    ``fields``: the rows come as instances() holding these fields (() for all)."""
    qn = connection.ops.quote_name
    fields = None if fields is None else list(fields)
    where = f"{qn(queryset.model._meta.db_table)}.{qn(column)}"
    if connection.vendor == "postgresql":
        chunk = max(chunk, 50_000)
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        if connection.vendor == "postgresql":
            condition = f"{where} = ANY(%s)"
            params: list[Any] = [part]
        else:
            condition = f"{where} IN ({', '.join(['%s'] * len(part))})"
            params = part
        # column is ours, values are parameters
        part_set = queryset.extra(where=[condition], params=params)  # noqa: S610
        yield from part_set if fields is None else instances(part_set, fields)


# The fields whose values the driver already gives as Django would: SQLite's declared types
# bool, date and datetime are converted by the sqlite3 module (Django registers converters for
# them), PostgreSQL's by psycopg.
_DRIVER_TYPED = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def driver_rows(queryset: models.QuerySet[Any], size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    """The rows of a values_list() queryset as the database driver gives them, without
    Django's converters applied one row and column at a time (a third of the time it takes
    to read a million children on SQLite). Only for the field types the driver gives as
    Python values (ValueError otherwise: JSON, UUID, decimals, times and custom fields
    need Django's conversion)."""
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    for column, _sql, _alias in compiler.select:
        field = getattr(column, "output_field", None)
        kind = field.get_internal_type() if field is not None else ""
        if kind not in _DRIVER_TYPED or hasattr(field, "from_db_value"):
            raise ValueError(f"driver_rows: {kind or column!r} needs Django's conversion")
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield from rows


# --- loading many rows into a table that holds few ----------------------------------------------
# A table's secondary indexes cost more to keep up row by row than to build once: an index
# built after the insert is a sort and one pass, an index kept up during it is a B-tree
# descent per row and index, at a random place. When an import is about to at least double
# a table, its indexes are dropped and built again inside the same transaction.
DEFER_INDEXES_MIN_ROWS = 20_000


def _secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that enforce nothing: not the primary
    key, not unique ones (they stay, so a duplicate is refused when it is written)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%'",
                [table],
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary",
                [table],
            )
        else:
            return []
        return [(name, sql) for name, sql in cursor.fetchall()]


def _row_count_at_most(table: str, limit: int) -> int:
    """The table's rows, counted no further than `limit` (a large table is not scanned)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {qn(table)} LIMIT %s) AS t",  # noqa: S608
            [limit],
        )
        return int(cursor.fetchone()[0])


def _foreign_keys(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's foreign keys, on PostgreSQL (whose checks run a
    query a row each; SQLite's are a lookup in C and cannot be dropped)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        return [(name, definition) for name, definition in cursor.fetchall()]


class DeferredIndexes(list[str]):
    """The tables whose indexes indexes_deferred() builds at the end of its block."""

    def __init__(self, deferred: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]]):
        super().__init__(table for table, _indexes, _keys in deferred)
        self.pending = {table: indexes for table, indexes, keys in deferred}
        # On PostgreSQL the indexes wait for the end, with the keys (see indexes_deferred).
        self.early = connection.vendor == "sqlite"

    def build_now(self, model: type[models.Model], background: BackgroundWrites | None) -> None:
        """The model's table has all its rows: on SQLite its indexes are built now, by the
        BackgroundWrites thread after the rows handed to it (the caller has called its
        writers' write()), while this thread builds the next table's rows."""
        table = model._meta.db_table
        if not self.early or table not in self.pending:
            return
        statements = [sql for _name, sql in self.pending.pop(table)]

        def build() -> None:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)

        if background is not None:
            background.submit(build)
        else:
            build()


@contextmanager
def indexes_deferred(adding: dict[type[models.Model], int]) -> Iterator[DeferredIndexes]:
    """Around the writes of many rows: the tables that are to (at least) double lose their
    secondary indexes until the block ends, and get them back built in one pass each. On
    PostgreSQL their foreign keys go too, and come back checked by one join each instead of
    a query per row (the "populating a database" advice of its manual).

    Must run inside transaction.atomic(): the drop, the rows and the rebuild commit together
    or not at all (an error rolls the drop back too). Readers never see a table without its
    indexes: on SQLite they read the last committed state (WAL), on PostgreSQL the drop locks
    the table until the commit (a table that small is a new deployment's). Yields the tables
    whose indexes were deferred (a DeferredIndexes: see its build_now).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_deferred() needs a transaction")
    deferred: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]] = []
    for model, rows in adding.items():
        if rows < DEFER_INDEXES_MIN_ROWS:
            continue
        table = model._meta.db_table
        if _row_count_at_most(table, rows) >= rows:
            continue  # the table already holds as many: keeping its indexes up is cheaper
        indexes, keys = _secondary_indexes(table), _foreign_keys(table)
        if indexes or keys:
            deferred.append((table, indexes, keys))
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if deferred and connection.vendor == "postgresql":
            # Rows written earlier in the transaction (a roster's households, proposed
            # villages) leave foreign-key checks pending until the commit, and PostgreSQL
            # alters no table they involve while any are: they are made now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table, indexes, keys in deferred:
            for name, _sql in indexes:
                cursor.execute(f"DROP INDEX {qn(name)}")
            for name, _definition in keys:
                cursor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
    waiting = DeferredIndexes(deferred)
    yield waiting
    deferred = [d for d in deferred if d[0] in waiting.pending]
    if not deferred:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # PostgreSQL builds no index on a table with foreign-key checks still pending
            # (Django's are deferred to the commit): they are made now, then deferred again.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for _table, indexes, _keys in deferred:
            for _name, sql in indexes:
                cursor.execute(sql)
        for table, _indexes, keys in deferred:
            for name, definition in keys:
                cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
