"""The DuckDB store: one `Database` per file and process, per-call cursors, transactions, migrations.

DuckDB lets exactly one process open a database file for writing, and while it does no other
process can open the file at all. LeadOps handles that like this:

* The app process (Streamlit) opens the file once (`get_db()`), keeps it open and runs every job
  (pipeline stages, syncs, CLI requests) in its own worker threads, each with its own cursor.
* A CLI command first tries to open the file itself. When the file is held by a running LeadOps
  app, the command hands its job to the app through a durable inbox on disk (see `core/platform/inbox.py`)
  and waits for the result. When it is held by some other process, it exits with a clear message.

Inside the process there is one writer: every write (a `transaction()`, an `execute()`, or a
write statement sent through any cursor, `INSERT … RETURNING` through `scalar()` included) holds
the database's write lock while it runs, so two of our own threads can never write at once and
DuckDB's optimistic-concurrency "Conflict on update" cannot arise between them. Reads take no
lock and run concurrently (DuckDB gives each cursor a consistent snapshot). Callers keep write
transactions short; `writer_stats` records the longest wait for and hold of the lock.

Every committed write bumps `data_version`, which pages use as part of their cache keys.

Names that come from outside (a CSV header, a mapping setting) reach SQL only through
`quote_ident`, and every call runs one statement: a string that DuckDB would split into several
(`…; COPY … TO …; …`) is refused with `MultipleStatements` before anything runs. Only migrations
run several statements at once (`execute_script`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_DB = Path("data") / "leadops.duckdb"

_LOCK_RE = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class StoreError(Exception):
    """A problem with the store that users can act on; the message says what to do."""


class MultipleStatements(StoreError):
    """One call was given several SQL statements; a call runs exactly one."""


class DatabaseBusy(StoreError):
    """The database file is held by another process (DuckDB allows one writer process)."""

    def __init__(self, path: Path, pid: int | None, holder: str | None) -> None:
        self.path = path
        self.pid = pid
        self.holder = holder
        who = f"process {pid} ({holder})" if pid else "another process"
        super().__init__(f"The database {path} is in use by {who}.")


def quote_ident(name: str) -> str:
    """`name` as one SQL identifier, whatever it holds: in double quotes, embedded quotes doubled
    (the rule of DuckDB and PostgreSQL alike). The one way a name from a file reaches SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """`value` as one SQL string literal: in single quotes, embedded quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def single_statement(sql: str) -> str:
    """`sql` when it is one statement; `MultipleStatements` when DuckDB would run several.

    Only text with a `;` before its end is parsed, so ordinary queries cost nothing extra."""
    body = sql.rstrip().rstrip(";")
    if ";" not in body:
        return sql
    try:
        n = len(duckdb.extract_statements(sql))
    except duckdb.Error:
        return sql  # not valid SQL at all: running it raises DuckDB's own error, runs nothing
    if n > 1:
        raise MultipleStatements(
            f"Refused to run {n} SQL statements in one call (a call runs one): {sql[:120]!r}"
        )
    return sql


def fetch_one(
    cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> tuple | None:
    """First row of a statement, fully consuming the result (DuckDB needs that before reuse)."""
    rows = (
        cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()
    )
    return rows[0] if rows else None


def insert_frame(cur: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame) -> None:
    """Insert a polars frame into `table`, matching columns by name."""
    if df.height == 0:
        return
    cur.register("_insert_frame_rows", df.to_arrow())
    try:
        cur.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _insert_frame_rows")
    finally:
        cur.unregister("_insert_frame_rows")


_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_DML = re.compile(r"\b(?:INSERT\s+INTO|UPDATE\s+\w+(?:\s+\w+)?\s+SET|DELETE\s+FROM)\b", re.I)
_READS = frozenset(
    "SELECT FROM VALUES TABLE DESCRIBE SHOW EXPLAIN SUMMARIZE PRAGMA SET RESET CALL".split()
)


def statement_kind(sql: str) -> str:
    """'begin', 'end', 'read' or 'write': how a statement touches the write lock."""
    body = _LEADING_NOISE.sub("", sql, count=1)
    word = body[:12].split(None, 1)[0].upper().rstrip(";(") if body.strip() else ""
    if word in ("BEGIN", "START"):
        return "begin"
    if word in ("COMMIT", "END", "ROLLBACK", "ABORT"):
        return "end"
    if word in _READS:
        return "read"
    if word == "WITH":
        return "write" if _DML.search(body) else "read"
    if word == "CREATE" and re.match(r"CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\b", body, re.I):
        return "read"  # a connection's own temporary table: nobody else can touch it
    if word == "COPY" and body[4:].lstrip().startswith("("):
        return "read"  # COPY (query) TO file
    return "write"


class WriteLock:
    """The process's one writer: a re-entrant lock that every write holds while it runs, with the
    longest wait and hold seen (to check that long jobs write in short transactions)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._local = threading.local()
        self.max_wait = 0.0
        self.max_hold = 0.0
        self.writes = 0

    def acquire(self) -> None:
        t0 = time.perf_counter()
        self._lock.acquire()
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.since = time.perf_counter()
            self.max_wait = max(self.max_wait, self._local.since - t0)
        self._local.depth = depth + 1

    def release(self) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            self.writes += 1
            self.max_hold = max(self.max_hold, time.perf_counter() - self._local.since)
        self._lock.release()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def stats(self) -> dict[str, float]:
        return {"writes": self.writes, "max_wait_s": self.max_wait, "max_hold_s": self.max_hold}

    def reset_stats(self) -> None:
        self.max_wait = self.max_hold = 0.0
        self.writes = 0


class GuardedCursor:
    """A DuckDB cursor whose write statements take the database's write lock: for the statement
    when it auto-commits, from BEGIN to COMMIT/ROLLBACK when the caller opens a transaction."""

    __slots__ = ("_cur", "_lock", "_in_tx")

    def __init__(self, cur: duckdb.DuckDBPyConnection, lock: WriteLock, in_tx: bool = False):
        self._cur = cur
        self._lock = lock
        self._in_tx = in_tx

    def _run(self, method: str, sql: str, *args: Any, **kw: Any) -> Any:
        single_statement(sql)
        return self._run_checked(method, sql, *args, **kw)

    def _run_checked(self, method: str, sql: str, *args: Any, **kw: Any) -> Any:
        kind = statement_kind(sql)
        if kind == "read" or (kind == "write" and self._in_tx):
            return getattr(self._cur, method)(sql, *args, **kw)
        if kind == "begin":
            if self._in_tx:
                return getattr(self._cur, method)(sql, *args, **kw)
            self._lock.acquire()
            try:
                out = getattr(self._cur, method)(sql, *args, **kw)
            except BaseException:
                self._lock.release()
                raise
            self._in_tx = True
            return out
        if kind == "end":
            try:
                return getattr(self._cur, method)(sql, *args, **kw)
            finally:
                if self._in_tx:
                    self._in_tx = False
                    self._lock.release()
        with self._lock:  # a write that commits on its own
            return getattr(self._cur, method)(sql, *args, **kw)

    def execute(self, sql: str, parameters: Any = None, *args: Any, **kw: Any) -> GuardedCursor:
        if parameters is None:
            self._run("execute", sql, *args, **kw)
        else:
            self._run("execute", sql, parameters, *args, **kw)
        return self

    def executemany(self, sql: str, parameters: Any = None) -> GuardedCursor:
        self._run("executemany", sql, parameters)
        return self

    def sql(self, query: str, *args: Any, **kw: Any) -> Any:
        return self._run("sql", query, *args, **kw)

    def query(self, query: str, *args: Any, **kw: Any) -> Any:
        return self._run("query", query, *args, **kw)

    def execute_script(self, sql: str) -> GuardedCursor:
        """Run a script of several statements (a migration file): the one multi-statement call."""
        self._run_checked("execute", sql)
        return self

    def close(self) -> None:
        if self._in_tx:  # a transaction left open: roll back and let go of the lock
            self._in_tx = False
            try:
                self._cur.execute("ROLLBACK")
            except duckdb.Error:
                pass
            self._lock.release()
        self._cur.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def db_path_from_env() -> Path:
    return Path(os.environ.get("LEADOPS_DB") or DEFAULT_DB)


class Database:
    """Owns one DuckDB connection to one file. Thread-safe: every call uses its own cursor."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:  # the file lock is held elsewhere
            m = _LOCK_RE.search(str(exc))
            if m or "lock" in str(exc).lower():
                raise DatabaseBusy(
                    self.path,
                    int(m.group("pid")) if m else None,
                    m.group("exe") if m else None,
                ) from None
            raise StoreError(f"Cannot open the database {self.path}: {exc}") from None
        self._version_lock = threading.Lock()
        self._data_version = 0
        self._closed = False
        self.writer = WriteLock()

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh cursor for this thread, closed afterwards; its writes go through the writer."""
        if self._closed:
            raise StoreError("The database is closed.")
        cur = GuardedCursor(self._con.cursor(), self.writer)
        try:
            yield cur  # type: ignore[misc]
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run writes that belong together atomically, holding the write lock throughout; commit
        on success, roll back on error. Keep it short: other writers wait for it."""
        if self._closed:
            raise StoreError("The database is closed.")
        with self.writer:
            raw = self._con.cursor()
            try:
                raw.execute("BEGIN TRANSACTION")
                cur = GuardedCursor(raw, self.writer, in_tx=True)
                try:
                    yield cur  # type: ignore[misc]
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
                raw.execute("COMMIT")
            finally:
                raw.close()
        self.bump_version()

    def bump_version(self) -> None:
        with self._version_lock:
            self._data_version += 1

    @property
    def data_version(self) -> int:
        """Changes whenever a write commits in this process; part of every page cache key."""
        return self._data_version

    # -- reads and single writes -------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        with self.cursor() as cur:
            rel = cur.sql(sql, params=params)
            return rel.pl() if rel is not None else pl.DataFrame()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        with self.cursor() as cur:
            row = fetch_one(cur, sql, params)
            return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        with self.cursor() as cur:
            return (cur.execute(sql, params) if params is not None else cur.execute(sql)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """One write statement in its own transaction."""
        with self.transaction() as cur:
            cur.execute(sql, params) if params is not None else cur.execute(sql)

    def table_exists(self, name: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            )
        )

    # -- migrations --------------------------------------------------------------------------

    def applied_migrations(self) -> list[int]:
        if not self.table_exists("schema_migrations"):
            return []
        return [r[0] for r in self.rows("SELECT version FROM schema_migrations ORDER BY version")]

    def migrate(self) -> list[str]:
        """Apply every migration not applied yet, each in its own transaction. Returns their names."""
        with self.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        done = set(self.applied_migrations())
        applied: list[str] = []
        for version, path in list_migrations():
            if version in done:
                continue
            with self.transaction() as cur:
                if path.suffix == ".sql":
                    cur.execute_script(path.read_text())
                else:
                    _load_module(path).migrate(cur)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [version, path.stem],
                )
            applied.append(path.stem)
        return applied

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._con.close()


def list_migrations() -> list[tuple[int, Path]]:
    out = []
    for p in sorted(MIGRATIONS_DIR.iterdir()):
        m = re.match(r"^(\d{4})_.+\.(sql|py)$", p.name)
        if m:
            out.append((int(m.group(1)), p))
    versions = [v for v, _ in out]
    if len(versions) != len(set(versions)):
        raise StoreError("Two migrations share a number; renumber one of them.")
    return out


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"leadops_migration_{path.stem}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -- the process-wide database -----------------------------------------------------------------

_dbs: dict[Path, Database] = {}
_dbs_lock = threading.Lock()


def get_db(path: str | Path | None = None) -> Database:
    """The process's one migrated `Database` for `path` (default `LEADOPS_DB`)."""
    p = Path(path) if path else db_path_from_env()
    key = p.resolve()
    with _dbs_lock:
        db = _dbs.get(key)
        if db is None or db._closed:
            db = Database(p)
            db.migrate()
            _dbs[key] = db
        return db


def close_all() -> None:
    with _dbs_lock:
        for db in _dbs.values():
            db.close()
        _dbs.clear()
