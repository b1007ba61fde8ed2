"""The store: migrations, transactions, and how the app and the CLI share one DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.platform import inbox, store

ROOT = Path(__file__).resolve().parent.parent


def schema(db: store.Database) -> list[tuple]:
    return db.rows(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
        " ORDER BY table_name, column_name"
    )


def test_fresh_and_repeated_migrations_end_at_the_same_schema(tmp_path):
    a = store.Database(tmp_path / "a.duckdb")
    applied = a.migrate()
    assert applied[0].startswith("0001") and len(applied) == len(store.list_migrations())
    assert a.migrate() == []  # idempotent
    a.close()
    a = store.Database(tmp_path / "a.duckdb")
    assert a.migrate() == []  # and across reopen
    b = store.Database(tmp_path / "b.duckdb")
    b.migrate()
    assert schema(a) == schema(b)
    assert a.applied_migrations() == [v for v, _ in store.list_migrations()]
    assert a.scalar("SELECT count(*) FROM us_zip_codes") > 40_000
    assert a.scalar("SELECT count(*) FROM us_states WHERE region = 'South'") == 17


def test_zip_master_data_is_real(empty_db):
    row = empty_db.rows(
        "SELECT city, state, county, zip_type FROM us_zip_codes WHERE zip = '75201'"
    )[0]
    assert row == ("Dallas", "TX", "Dallas County", "STANDARD")
    assert empty_db.scalar("SELECT count(DISTINCT state) FROM us_zip_codes") >= 51


def test_failed_migration_rolls_back_and_is_retried(tmp_path, monkeypatch):
    mig = tmp_path / "migs"
    mig.mkdir()
    (mig / "0001_ok.sql").write_text("CREATE TABLE t1 (a INTEGER);")
    (mig / "0002_bad.sql").write_text("CREATE TABLE t2 (a INTEGER); INSERT INTO nope VALUES (1);")
    monkeypatch.setattr(store, "MIGRATIONS_DIR", mig)
    db = store.Database(tmp_path / "m.duckdb")
    with pytest.raises(Exception, match="nope"):
        db.migrate()
    assert db.applied_migrations() == [1]
    assert not db.table_exists("t2")  # half a migration never lands
    (mig / "0002_bad.sql").write_text("CREATE TABLE t2 (a INTEGER);")
    assert db.migrate() == ["0002_bad"]


def test_transaction_rolls_back_on_error_and_bumps_version_on_commit(empty_db):
    v0 = empty_db.data_version
    with pytest.raises(RuntimeError):
        with empty_db.transaction() as cur:
            cur.execute("INSERT INTO workspaces (name) VALUES ('Rollback Agency')")
            raise RuntimeError("boom")
    assert empty_db.scalar("SELECT count(*) FROM workspaces") == 0
    assert empty_db.data_version == v0
    with empty_db.transaction() as cur:
        cur.execute("INSERT INTO workspaces (name) VALUES ('Commit Agency')")
    assert empty_db.scalar("SELECT count(*) FROM workspaces") == 1
    assert empty_db.data_version == v0 + 1


def test_cursors_work_from_many_threads(empty_db):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: empty_db.scalar("SELECT ? * 2", [i]), range(200)))
    assert results == [i * 2 for i in range(200)]


HOLDER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from core.platform.store import Database
    db = Database({path!r}); db.migrate()
    print("ready", flush=True)
    time.sleep(60)
    """
)

APP = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from core.app import start_app_runtime
    db = start_app_runtime()
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _spawn(code: str, env: dict) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_reports_a_foreign_holder_clearly(tmp_path):
    path = tmp_path / "held.duckdb"
    env = {**os.environ, "LEADOPS_DB": str(path)}
    holder = _spawn(HOLDER.format(root=str(ROOT), path=str(path)), env)
    try:
        r = _cli("workspaces", "list", env=env)
        assert r.returncode == 1
        assert "in use by process" in r.stderr and str(holder.pid) in r.stderr
        assert "Traceback" not in r.stderr + r.stdout
        r = _cli("demo", env=env)
        assert r.returncode == 1 and "not a running LeadOps app" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        holder.kill()
        holder.wait()
    db = store.Database(path)  # the file is intact
    assert db.scalar("SELECT count(*) FROM us_zip_codes") > 40_000
    db.close()


def test_cli_hands_jobs_to_the_running_app(tmp_path, demo_template):
    path = tmp_path / "app.duckdb"
    path.write_bytes(demo_template.read_bytes())
    env = {**os.environ, "LEADOPS_DB": str(path)}
    app = _spawn(APP.format(root=str(ROOT)), env)
    try:
        assert inbox.app_alive(path)["pid"] == app.pid
        out = tmp_path / "clients.csv"
        r = _cli("export", "workspaces", "--out", str(out), env=env)
        assert r.returncode == 0, r.stderr
        assert "handing the job to it" in r.stderr
        assert out.read_text().splitlines()[0].startswith("id,name,")
        assert len(out.read_text().splitlines()) == 13
        r = _cli("export", "batches", env=env)  # to stdout
        assert r.returncode == 0 and r.stdout.startswith("id,client,name")
        r = _cli("workspaces", "add", "Handoff Insurance Agency", "--goal", "120", env=env)
        assert r.returncode == 0, r.stderr
        r = _cli("demo", env=env)  # refused by the job, reported cleanly
        assert r.returncode == 1 and "--replace" in r.stderr and "Traceback" not in r.stderr
    finally:
        app.terminate()
        app.wait()
    time.sleep(0.2)
    db = store.Database(path)
    assert (
        db.scalar("SELECT monthly_target FROM workspaces WHERE name = 'Handoff Insurance Agency'")
        == 120
    )
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'workspace.create'") == 1
    assert db.scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'") >= 3
    db.close()


def test_cli_runs_jobs_itself_when_no_app_is_running(tmp_path):
    path = tmp_path / "solo.duckdb"
    env = {**os.environ, "LEADOPS_DB": str(path)}
    r = _cli("workspaces", "add", "Solo Agency", "--states", "TX,OK", env=env)
    assert r.returncode == 0, r.stderr
    r = _cli("workspaces", "add", "solo agency", env=env)
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = _cli("workspaces", "add", "Bad States Agency", "--states", "TX,ZZ", env=env)
    assert r.returncode == 1 and "ZZ" in r.stderr
    r = _cli("status", env=env)
    assert "Clients: 1" in r.stdout


def test_pending_requests_survive_until_an_app_runs_them(tmp_path, demo_template):
    path = tmp_path / "later.duckdb"
    path.write_bytes(demo_template.read_bytes())
    out = tmp_path / "later.csv"
    rid = inbox.submit(path, "export", {"name": "workspaces", "out": str(out), "actor": "t"}, "t")
    db = store.Database(path)
    worker = inbox.InboxWorker(db)
    worker.beat()
    assert worker.drain() == 1
    worker.join_requests(10)
    st = inbox.wait(path, rid, timeout=5)
    assert st["state"] == "succeeded" and out.exists()
    db.close()
