"""The unattended runtime: one writer, a schedule that runs with no page open, requests that are
never lost, and outcomes that say when something failed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import catalog  # noqa: F401  (every job kind, as the app has them)
from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import receiver
from core.demo.sandbox.views import ser_reply
from core.platform import inbox, jobs, secrets, settings, store
from tests.conftest import ROOT

pytest_plugins = ["tests.conftest_bison"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_clients(db: store.Database, fake, n: int) -> dict[int, int]:
    """Our workspace id for each of the fake's first `n` Email Bison workspaces, with tokens."""
    out = {}
    for i, bid in enumerate(fake.workspace_ids[:n]):
        wid = workspaces.create(
            db, WorkspaceInput(name=f"Client {i + 1}", bison_workspace_id=bid), actor="t"
        )
        secrets.set_secret(
            db, secrets.bison_token_name(wid), fake.token_for(bid), kind="bison_token", actor="t"
        )
        out[bid] = wid
    settings.set_value(db, "bison_daily_backfill_days", 2, actor="t")
    settings.set_value(db, "bison_stats_backfill_days", 2, actor="t")
    return out


def mirror_matches_fake(db: store.Database, fake, ids: dict[int, int]) -> None:
    for bid, wid in ids.items():
        ws = fake.workspace(bid)
        campaigns = {
            r[0] for r in db.rows("SELECT id FROM bison_campaigns WHERE workspace_id = ?", [wid])
        }
        assert campaigns == set(ws.campaigns)
        leads = {r[0] for r in db.rows("SELECT id FROM bison_leads WHERE workspace_id = ?", [wid])}
        assert leads == set(ws.leads)
        replies = dict(
            db.rows("SELECT id, interested FROM bison_replies WHERE workspace_id = ?", [wid])
        )
        inbound = {r.id: r.interested for r in ws.replies.values() if r.folder != "Sent"}
        assert replies == inbound


def reply_event(bid: int, reply) -> dict:
    return {
        "event": {"type": "LEAD_REPLIED", "name": "Lead Replied", "workspace_id": bid},
        "data": {"reply": ser_reply(reply), "campaign": {"id": reply.campaign_id}},
    }


def test_sync_alerts_crm_and_webhooks_at_once_never_collide(
    empty_db, make_bison_fake, bison_server, monkeypatch
):
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(
        workspaces=3, campaigns_per_ws=20, replies_per_ws=40, leads_per_ws=60, senders_per_ws=17
    )
    db = empty_db
    ids = add_clients(db, fake, 3)
    folder = receiver.webhooks_dir(inbox.inbox_dir(db.path))
    written = 0
    db.writer.reset_stats()
    errors: list[str] = []

    def run(kind: str) -> None:
        try:
            jobs.run(db, kind, {"actor": "t"}, requested_by="t", exclusive=True)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(f"{kind}: {type(exc).__name__}: {exc}")

    def ingest() -> None:
        try:
            receiver.ingest(db)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"ingest: {type(exc).__name__}: {exc}")

    for rnd in range(20):
        for bid in fake.workspace_ids[:3]:  # each round, Email Bison reports two replies
            for reply in list(fake.workspace(bid).replies.values())[rnd * 2 : rnd * 2 + 2]:
                if reply.folder == "Sent":
                    continue
                event_id = f"r{rnd}-{bid}-{reply.id}"
                receiver.write_event_file(
                    folder, event_id, {"event_id": event_id, "payload": reply_event(bid, reply)}
                )
                written += 1
        threads = [
            threading.Thread(target=run, args=("sync.bison",)),
            threading.Thread(target=run, args=("alerts.check",)),
            threading.Thread(target=run, args=("crm.deliver",)),
            threading.Thread(target=ingest),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
    receiver.ingest(db)
    assert not any(folder.glob("*.json")), "every event file is taken in"
    events = db.rows("SELECT count(*), count(applied_at), count(error) FROM bison_webhook_events")
    assert events == [(written, written, 0)]  # each event stored and applied exactly once
    mirror_matches_fake(db, fake, ids)
    statuses = db.rows(
        "SELECT DISTINCT status FROM jobs WHERE kind IN ('sync.bison', 'crm.deliver')"
    )
    assert statuses == [("succeeded",)]
    stats = db.writer.stats()
    print(f"writer: {stats}")
    assert stats["writes"] > 100


def test_two_clicks_start_one_pipeline_run_and_one_sync(empty_db):
    from core.pipeline import runs as pipeline

    db = empty_db
    wid = workspaces.create(db, WorkspaceInput(name="Acme Insurance"), actor="t")
    month = pipeline.parse_month("2027-02")
    made, refused = [], []
    barrier = threading.Barrier(8)

    def click() -> None:
        barrier.wait()
        try:
            made.append(pipeline.create_run(db, wid, month, "filter", "t"))
        except pipeline.PipelineError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(refused) == 7 and "already in progress" in refused[0]

    gate = threading.Event()

    @jobs.job("test.slow")
    def slow(db, params, progress):
        gate.wait(10)
        return {}

    try:
        started, failed = [], []
        barrier2 = threading.Barrier(6)

        def start() -> None:
            barrier2.wait()
            try:
                started.append(jobs.start(db, "test.slow", {}, requested_by="t"))
            except jobs.JobError as exc:
                failed.append(str(exc))

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(started) == 1 and len(failed) == 5 and "already running" in failed[0]
        # a handed-over request of the same kind waits its turn instead of failing
        waited = []
        t = threading.Thread(
            target=lambda: waited.append(
                jobs.run(db, "test.slow", {}, requested_by="t", exclusive=True)
            )
        )
        t.start()
        time.sleep(0.3)
        assert not waited
        gate.set()
        t.join(10)
        assert waited == [{}]
    finally:
        gate.set()
        jobs.REGISTRY.pop("test.slow", None)


def test_a_sync_where_one_client_fails_ends_partial_and_raises_an_alert(
    empty_db, make_bison_fake, bison_server, monkeypatch
):
    from core.guardrails import alerts as guardrails

    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(workspaces=2, campaigns_per_ws=2, replies_per_ws=4, leads_per_ws=4)
    db = empty_db
    ids = add_clients(db, fake, 2)
    bad = list(ids.values())[1]
    secrets.set_secret(
        db, secrets.bison_token_name(bad), "wrong-token", kind="bison_token", actor="t"
    )
    with pytest.raises(jobs.PartialFailure, match=r"failed for 1 of 2 client\(s\): Client 2"):
        jobs.run(db, "sync.bison", {"actor": "t"}, requested_by="t")
    row = db.rows("SELECT status, error FROM jobs WHERE kind = 'sync.bison'")[0]
    assert row[0] == "partial" and "Client 2" in row[1]
    guardrails.run_checks(db, deliver=False)
    found = db.rows(
        "SELECT title, explanation FROM alerts WHERE check_name = 'job_failed' AND resolved_at IS NULL"
    )
    assert found and found[0][0] == "Email Bison sync partly failed" and "Client 2" in found[0][1]
    # a later run that succeeds clears it
    secrets.set_secret(
        db,
        secrets.bison_token_name(bad),
        fake.token_for(fake.workspace_ids[1]),
        kind="bison_token",
        actor="t",
    )
    jobs.run(db, "sync.bison", {"actor": "t"}, requested_by="t")
    guardrails.run_checks(db, deliver=False)
    assert not db.rows(
        "SELECT 1 FROM alerts WHERE check_name = 'job_failed' AND resolved_at IS NULL"
    )


def _serve(port: int, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_the_server_runs_the_schedule_with_no_page_open(
    empty_db, make_bison_fake, bison_server, tmp_path
):
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=2, replies_per_ws=3, leads_per_ws=3)
    add_clients(empty_db, fake, 1)
    store.close_all()
    env = {
        **os.environ,
        "LEADOPS_BISON_URL": bison_server.url,
        "LEADOPS_BISON_RATE_PER_SEC": "0",
        "LEADOPS_SCHEDULER_SECONDS": "0.5",
    }
    fake.reset_requests()
    proc = _serve(free_port(), env, tmp_path / "serve.log")
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not fake.count_requests("GET", prefix="/api/campaigns"):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert fake.count_requests("GET", prefix="/api/campaigns"), (
            "no scheduled sync reached Email Bison"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    db = store.Database(Path(os.environ["LEADOPS_DB"]))
    assert db.scalar("SELECT count(*) FROM sync_runs WHERE triggered_by = 'schedule'") >= 1
    db.close()


APP = """
import sys
sys.path.insert(0, {root!r})
from core.app import start_app_runtime
start_app_runtime()
print("ready", flush=True)
import time
time.sleep(300)
"""


def _app(env: dict) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", APP.format(root=str(ROOT))],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert p.stdout.readline().strip() == "ready"
    return p


def test_killing_the_app_mid_sync_reports_the_request_interrupted(
    empty_db, make_bison_fake, bison_server
):
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=3, replies_per_ws=5, leads_per_ws=5)
    ids = add_clients(empty_db, fake, 1)
    store.close_all()
    path = Path(os.environ["LEADOPS_DB"])
    env = {**os.environ, "LEADOPS_BISON_URL": bison_server.url, "LEADOPS_BISON_RATE_PER_SEC": "0"}
    app = _app(env)
    fake.delay = 0.4  # every Email Bison answer is slow: the sync is mid-way for seconds
    fake.reset_requests()
    cli = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "sync", "bison"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        running = inbox.inbox_dir(path) / "running"
        deadline = time.time() + 30
        while time.time() < deadline and not list(running.glob("*.json")):
            time.sleep(0.1)
        assert list(running.glob("*.json")), "the app never started the request"
        while time.time() < deadline and not fake.count_requests("GET"):
            time.sleep(0.1)
        assert fake.count_requests("GET"), "the sync never reached Email Bison"
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 1
        assert "stopped while it ran the request" in err and "Traceback" not in err
    finally:
        fake.delay = 0.0
        for p in (app, cli):
            if p.poll() is None:
                p.kill()
    app = _app(env)  # the restart reports what the dead process left
    try:
        status = list((inbox.inbox_dir(path) / "status").glob("*.json"))
        states = [json.loads(p.read_text())["state"] for p in status]
        assert states == ["interrupted"]
        assert not list((inbox.inbox_dir(path) / "running").glob("*.json"))
        r = subprocess.run(
            [sys.executable, "-m", "core.cli.main", "sync", "bison"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
    finally:
        app.kill()
        app.wait(10)
    db = store.Database(path)
    runs = db.rows("SELECT status, count(*) FROM sync_runs GROUP BY 1 ORDER BY 1")
    assert dict(runs) == {"interrupted": 1, "succeeded": 1}
    mirror_matches_fake(db, fake, ids)  # nothing duplicated, nothing missing
    db.close()


def test_the_waiting_command_gives_up_after_its_timeout(empty_db, make_bison_fake, bison_server):
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=3, replies_per_ws=5, leads_per_ws=5)
    add_clients(empty_db, fake, 1)
    store.close_all()
    env = {**os.environ, "LEADOPS_BISON_URL": bison_server.url, "LEADOPS_BISON_RATE_PER_SEC": "0"}
    app = _app(env)
    fake.delay = 0.5
    try:
        r = subprocess.run(
            [sys.executable, "-m", "core.cli.main", "--timeout", "2", "sync", "bison"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1 and "Gave up waiting after 2 s" in r.stderr, r.stderr
    finally:
        fake.delay = 0.0
        app.kill()
        app.wait(10)
