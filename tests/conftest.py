"""Shared fixtures: an isolated database and secret store per test, and a demo database template."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from core.platform import secrets, store

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 23)  # the demo's "today" in tests, so numbers are stable
ARTIFACTS = ROOT / "test-artifacts"

pytest_plugins = [
    f"tests.{name}"
    for name in ("conftest_bison", "conftest_stripe", "conftest_pg")
    if (Path(__file__).parent / f"{name}.py").exists()
]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own database path and throw-away encrypted secret store.

    Every secret value stored during the test (through `secrets.set_secret` or straight into a
    keyring, as the CLI hands values over) is looked for at teardown in the test's DuckDB files,
    inbox folders and log files; finding one fails the test, naming where it leaked.
    """
    monkeypatch.setenv("LEADOPS_DB", str(tmp_path / "leadops.duckdb"))
    monkeypatch.setenv("LEADOPS_KEYRING", "cryptfile")
    monkeypatch.setenv("LEADOPS_KEYRING_FILE", str(tmp_path / "secrets.cfg"))
    monkeypatch.setenv("LEADOPS_KEYRING_PASSWORD", "test-master-password")
    monkeypatch.setenv("LEADOPS_ACTOR", "test:runner")
    monkeypatch.delenv("LEADOPS_ALLOW_PRIVATE_URLS", raising=False)
    stored = _record_stored_secrets(monkeypatch)
    yield
    from core.app import stop_app_runtime

    stop_app_runtime()
    store.close_all()
    leaks = find_leaked_secrets(tmp_path, stored)
    if leaks:
        pytest.fail("secret values leaked:\n" + "\n".join(leaks), pytrace=False)


MIN_SECRET_CHARS = 8  # shorter test values ("pw") would match unrelated text


def _record_stored_secrets(monkeypatch) -> set[str]:
    """Wrap `secrets.set_secret` and the keyrings' `set_password` to note every value stored."""
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    stored: set[str] = set()

    def note(value) -> None:
        if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_CHARS:
            stored.add(value.strip())

    real_set_secret = secrets.set_secret

    def set_secret(db, name, value, *args, **kwargs):
        note(value)
        return real_set_secret(db, name, value, *args, **kwargs)

    monkeypatch.setattr(secrets, "set_secret", set_secret)
    keyrings = [CryptFileKeyring]
    if "tests.crm_fixtures" in sys.modules:  # the in-memory keyring some modules use
        keyrings.append(sys.modules["tests.crm_fixtures"].MemoryKeyring)
    for cls in keyrings:

        def set_password(self, service, name, value, _real=cls.set_password):
            note(value)
            return _real(self, service, name, value)

        monkeypatch.setattr(cls, "set_password", set_password)
    return stored


def _table_leaks(con, values: list[str]) -> list[str]:
    """`table.column` of every text-holding column that contains one of `values`."""
    columns: dict[str, list[str]] = {}
    for table, column, kind in con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)"
        " WHERE t.table_type = 'BASE TABLE'"
    ).fetchall():
        if any(k in kind for k in ("VARCHAR", "JSON", "BLOB", "STRUCT", "MAP", "[]", "UNION")):
            columns.setdefault(table, []).append(column)
    found = []
    for table, cols in columns.items():
        checks = [
            f"bool_or(contains(CAST({duckdb_quote(c)} AS VARCHAR), ${i + 1}))"
            for c in cols
            for i in range(len(values))
        ]
        hits = con.execute(f"SELECT {', '.join(checks)} FROM {duckdb_quote(table)}", values)
        for n, hit in enumerate(hits.fetchone()):
            if hit:
                found.append(
                    f"{table}.{cols[n // len(values)]} holds {values[n % len(values)][:4]}…"
                )
    return found


def duckdb_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def find_leaked_secrets(root: Path, stored: set[str]) -> list[str]:
    """Where under `root` any of the `stored` values appears: the rows of every DuckDB file,
    the raw bytes of those files (and their WAL), every file of an inbox folder, log files."""
    if not stored:
        return []
    values = sorted(stored)
    leaks: list[str] = []
    databases = [p for p in root.rglob("*.duckdb") if p.is_file()]
    for path in databases:
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error:
            continue  # held by a process still running: its bytes are read below
        try:
            leaks += [f"{path.name}: {leak}" for leak in _table_leaks(con, values)]
        finally:
            con.close()
    files = [p for db in databases for p in (db, db.with_name(db.name + ".wal"))]
    files += [p for inbox in root.rglob("*.inbox") if inbox.is_dir() for p in inbox.rglob("*")]
    files += list(root.rglob("*.log"))
    for path in files:
        if not path.is_file():
            continue
        data = path.read_bytes()
        for value in values:
            if value.encode() in data:
                leaks.append(f"{path.relative_to(root)} holds {value[:4]}…")
    return leaks


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A small demo database built once per test session; tests copy it."""
    from core.demo.loader import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    db = store.Database(path)
    db.migrate()
    load_demo(db, scale="small", seed=42, as_of=AS_OF)
    db.close()
    return path


@pytest.fixture
def demo_db(demo_template, tmp_path) -> store.Database:
    """A private copy of the demo database, opened as the process's database."""
    target = Path(os.environ["LEADOPS_DB"])
    shutil.copy(demo_template, target)
    return store.get_db(target)


@pytest.fixture
def empty_db(migrated_template) -> store.Database:
    """A migrated database with no clients, opened as the process's database."""
    target = Path(os.environ["LEADOPS_DB"])
    shutil.copy(migrated_template, target)
    return store.get_db(target)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("empty") / "empty.duckdb"
    db = store.Database(path)
    db.migrate()
    db.close()
    return path
