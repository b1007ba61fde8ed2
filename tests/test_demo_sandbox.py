"""The demo sandbox: `leadops serve` on the demo runs a simulated Email Bison loaded from the demo,
so Sync now, uploads, pause/resume and Mark interested work, and every page says so."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.accounts import access, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.campaigns import campaigns
from core.demo.sandbox import runtime
from core.pipeline import runs
from core.platform import bison_sandbox, connections, secrets, settings, store
from core.replies import inbox
from tests import crm_fixtures
from tests.conftest import ROOT
from tests.test_pages import APP

# the encrypted file's key derivation takes seconds per secret; the sandbox stores one per client
memory_keyring = crm_fixtures.memory_keyring

ADMIN = access.LOCAL_ADMIN
MIRROR = [
    "bison_campaigns",
    "bison_sequence_steps",
    "bison_step_stats",
    "bison_campaign_daily",
    "bison_replies",
    "bison_leads",
    "bison_tags",
    "bison_sender_emails",
    "bison_campaign_sender_emails",
    "bison_campaign_schedules",
    "client_leads",
]


@pytest.fixture(autouse=True)
def no_bison_url(monkeypatch):
    monkeypatch.delenv("LEADOPS_BISON_URL", raising=False)
    monkeypatch.delenv("LEADOPS_BISON_SUPER_TOKEN", raising=False)
    yield
    runtime.stop()  # puts this process's Email Bison address back


@pytest.fixture
def sandbox(demo_db, memory_keyring) -> runtime.Sandbox:
    started = runtime.start_if_wanted(demo_db)
    assert started is not None
    return started


def snapshot(db: store.Database) -> dict[str, set[tuple]]:
    """Every mirror row but its `synced_at`, per table."""
    out = {}
    for table in MIRROR:
        cols = [
            r[0]
            for r in db.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                " AND column_name <> 'synced_at' ORDER BY ordinal_position",
                [table],
            )
        ]
        rows = db.rows(f"SELECT {', '.join(cols)} FROM {table}")
        out[table] = {tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in rows}
    return out


def no_activity(table: str, row: tuple) -> bool:
    """A per-day row a sync adds for a day the demo has nothing on: its six counters are zero."""
    per_day = table in ("bison_step_stats", "bison_campaign_daily")
    return per_day and all(v == 0 for v in row[-6:])


def serve_in_process(monkeypatch) -> str:
    """`leadops serve` up to the point it hands over to Streamlit; returns what it printed."""
    from streamlit.web import bootstrap

    from core.cli.main import app

    monkeypatch.setattr(bootstrap, "load_config_options", lambda **kw: None)
    monkeypatch.setattr(bootstrap, "run", lambda *a, **kw: None)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    return result.output


# -- when it runs ---------------------------------------------------------------------------


def test_serve_starts_the_sandbox_on_a_demo_database(demo_db, memory_keyring, monkeypatch):
    out = serve_in_process(monkeypatch)
    sandbox = runtime.current()
    assert sandbox is not None and f"{bison_sandbox.LABEL} at {sandbox.url}" in out
    assert connections.bison_url(demo_db) == sandbox.url == bison_sandbox.url()
    assert bison_sandbox.in_use() and bison_sandbox.configured_url(demo_db) == ""
    # every client has a token, kept in the secret store (the database holds its last 4 only)
    clients = demo_db.rows("SELECT id, bison_workspace_id FROM workspaces ORDER BY id")
    for wid, bison_id in clients:
        token = secrets.get_secret(secrets.bison_token_name(wid))
        assert (
            token
            and demo_db.scalar(
                "SELECT last4 FROM secret_refs WHERE name = ?", [secrets.bison_token_name(wid)]
            )
            == token[-4:]
        )
        body = httpx.get(
            f"{sandbox.url}/api/campaigns", headers={"Authorization": f"Bearer {token}"}
        ).json()
        mirror = demo_db.rows("SELECT id FROM bison_campaigns WHERE workspace_id = ?", [wid])
        assert {c["id"] for c in body["data"]} == {r[0] for r in mirror}, bison_id
    runtime.stop()
    assert connections.bison_url(demo_db) == "" and not bison_sandbox.in_use()


def test_the_setup_checklist_sees_the_sandbox_answer(sandbox, demo_db):
    """Started, the sandbox is tested like Settings → Connections' Test (a real request)."""
    from core.setup import checklist

    item = next(i for i in checklist.agency_items(demo_db) if i.key == "bison")
    assert item.status == "done", item
    assert "demo sandbox answered" in item.reason.lower() or sandbox.url in item.reason
    row = demo_db.rows("SELECT ok, tested_by FROM connection_tests WHERE name = 'bison'")
    assert row == [(True, "demo-sandbox")]


def test_the_sandbox_never_starts_when_an_email_bison_url_is_configured(demo_db, monkeypatch):
    monkeypatch.setenv("LEADOPS_BISON_URL", "https://send.agency.example")
    out = serve_in_process(monkeypatch)
    assert runtime.current() is None and "Demo sandbox" not in out
    assert os.environ["LEADOPS_BISON_URL"] == "https://send.agency.example"
    assert demo_db.scalar("SELECT count(*) FROM secret_refs") == 0
    monkeypatch.delenv("LEADOPS_BISON_URL")
    if "bison_url" in settings.REGISTRY:  # the address set under Settings → Connections
        settings.set_value(demo_db, "bison_url", "https://send.agency.example", actor="t")
        assert runtime.start_if_wanted(demo_db) is None


def test_not_on_a_database_without_the_demo(empty_db, monkeypatch):
    serve_in_process(monkeypatch)
    assert runtime.current() is None and not bison_sandbox.in_use()


def test_an_address_configured_later_stops_it(sandbox, demo_db):
    if "bison_url" not in settings.REGISTRY:
        pytest.skip("no bison_url setting")
    settings.set_value(demo_db, "bison_url", "https://send.agency.example", actor="t")
    sandbox.check()
    assert not sandbox.alive() and runtime.current() is None
    assert connections.bison_url(demo_db) == "https://send.agency.example"


# -- what works against it ------------------------------------------------------------------


def test_a_sync_against_the_sandbox_succeeds_and_keeps_the_demo(sandbox, demo_db):
    before = snapshot(demo_db)
    result = bison_sync.sync_bison(demo_db, triggered_by="test")
    assert {r["status"] for r in result["workspaces"].values()} == {"succeeded"}, result
    assert len(result["workspaces"]) == 12
    after = snapshot(demo_db)
    for table in MIRROR:
        assert before[table] <= after[table], f"{table}: demo rows changed or went away"
        added = after[table] - before[table]
        assert all(no_activity(table, r) for r in added), f"{table}: {sorted(added)[:3]}"
    # the next sync finds nothing new: the campaign list, one page of replies and so on
    again = bison_sync.sync_bison(demo_db, triggered_by="test")
    assert sum(r["requests"] for r in again["workspaces"].values()) < 200
    assert snapshot(demo_db) == after


def test_pause_resume_and_mark_interested_reach_the_sandbox(sandbox, demo_db):
    wid, bison_id = 1, demo_db.scalar("SELECT bison_workspace_id FROM workspaces WHERE id = 1")
    ws = sandbox.fake.workspace(bison_id)
    from core.campaigns import preflight
    from core.platform.scope import Scope

    cid = next(  # one the resume preflight lets through (core refuses a resume to idle)
        c
        for (c,) in demo_db.rows(
            "SELECT id FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'"
            " ORDER BY id",
            [wid],
        )
        if not preflight.blocking_failures(preflight.preflight(demo_db, Scope.all(), wid, c))
    )
    campaigns.campaign_action(demo_db, ADMIN, wid, cid, "pause")
    assert ws.campaigns[cid]["status"] == "Paused"
    assert demo_db.scalar("SELECT status FROM bison_campaigns WHERE id = ?", [cid]) == "paused"
    campaigns.campaign_action(demo_db, ADMIN, wid, cid, "resume")
    assert ws.campaigns[cid]["status"] == "Active"
    rid = demo_db.scalar(
        "SELECT max(id) FROM bison_replies WHERE workspace_id = ? AND NOT interested", [wid]
    )
    inbox.set_interested(demo_db, ADMIN, wid, rid, True)
    assert ws.replies[rid].interested
    bison_sync.sync_bison(demo_db, workspace_ids=[wid], triggered_by="test")
    assert demo_db.scalar("SELECT interested FROM bison_replies WHERE id = ?", [rid]) is True


def test_a_pipeline_run_uploads_its_batches_to_the_sandbox(sandbox, demo_db):
    wid = 1
    bison_id = demo_db.scalar("SELECT bison_workspace_id FROM workspaces WHERE id = ?", [wid])
    month = demo_db.scalar("SELECT max(renewal_month) FROM contacts WHERE workspace_id = ?", [wid])
    upload_to = demo_db.scalar(
        "SELECT upload_campaign_id FROM pipeline_settings WHERE workspace_id = ?", [wid]
    )
    leads_before = len(sandbox.fake.workspace(bison_id).leads)
    run_id = runs.start_run(demo_db, ADMIN, wid, month)
    deadline = time.time() + 120
    while time.time() < deadline:
        status = demo_db.scalar("SELECT status FROM pipeline_runs WHERE id = ?", [run_id])
        if status not in ("queued", "pending", "running"):
            break
        time.sleep(0.2)
    error = demo_db.scalar("SELECT error FROM pipeline_runs WHERE id = ?", [run_id])
    assert status == "succeeded", error
    uploaded = demo_db.scalar(
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
        " AND status = 'uploaded'",
        [wid, month],
    )
    ws = sandbox.fake.workspace(bison_id)
    assert uploaded > 0 and len(ws.leads) == leads_before + uploaded
    campaign_of = {
        lid: [c["campaign_id"] for c in lead.campaigns or []] for lid, lead in ws.leads.items()
    }
    in_campaign = [lid for lid, ids in campaign_of.items() if upload_to in ids]
    assert len(in_campaign) >= uploaded
    assert (
        demo_db.scalar(
            "SELECT count(*) FROM batches WHERE workspace_id = ? AND renewal_month = ?"
            " AND status <> 'uploaded'",
            [wid, month],
        )
        == 0
    )
    # a restart before the next sync: the new sandbox knows the uploaded leads from the contacts
    runtime.stop()
    restarted = runtime.start_if_wanted(demo_db)
    assert restarted is not None and restarted is not sandbox
    assert len(restarted.fake.workspace(bison_id).leads) == leads_before + uploaded
    bison_sync.sync_bison(demo_db, workspace_ids=[wid], triggered_by="test")
    assert (
        demo_db.scalar(
            "SELECT count(*) FROM bison_leads l JOIN contacts c ON c.bison_lead_id = l.id"
            " WHERE l.workspace_id = ? AND c.renewal_month = ?",
            [wid, month],
        )
        == uploaded
    )


def test_a_client_added_to_the_demo_gets_a_workspace_and_a_token(sandbox, demo_db):
    wid = workspaces.create(demo_db, WorkspaceInput(name="Sunbelt Insurance Group"), actor="t")
    sandbox.refresh()
    bison_id = demo_db.scalar("SELECT bison_workspace_id FROM workspaces WHERE id = ?", [wid])
    assert bison_id is not None and bison_id in sandbox.fake.state.workspaces
    assert secrets.get_secret(secrets.bison_token_name(wid))
    result = bison_sync.sync_bison(demo_db, workspace_ids=[wid], triggered_by="test")
    assert result["workspaces"]["Sunbelt Insurance Group"]["status"] == "succeeded", result
    assert demo_db.scalar("SELECT count(*) FROM bison_campaigns WHERE workspace_id = ?", [wid]) == 1
    assert demo_db.scalar("SELECT count(*) FROM bison_sender_emails WHERE workspace_id = ?", [wid])


def test_a_token_staff_stored_opens_the_workspace_too(sandbox, demo_db):
    token = "77|StaffPastedThisTokenValue42"
    secrets.set_secret(demo_db, secrets.bison_token_name(2), token, kind="bison_token", actor="t")
    sandbox.refresh()
    result = bison_sync.sync_bison(demo_db, workspace_ids=[2], triggered_by="test")
    assert not result["failed"], result


def test_reloading_the_demo_gives_a_fresh_sandbox(sandbox, demo_db):
    from core.demo.loader import load_demo

    first = sandbox.fake
    load_demo(demo_db, scale="small", seed=42, as_of=dt.date(2026, 11, 23), replace=True)
    runtime.after_demo_load(demo_db)
    assert sandbox.fake is not first
    result = bison_sync.sync_bison(demo_db, workspace_ids=[1], triggered_by="test")
    assert result["workspace_ids"] == [1] and not result["failed"], result


# -- the label ------------------------------------------------------------------------------


def labels(at: AppTest) -> list[str]:
    return [e.value for e in at.sidebar.info]


@pytest.mark.parametrize("page", [None, "pages/data_sync.py", "pages/campaigns.py"])
def test_every_page_says_email_bison_is_the_sandbox(sandbox, page):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(bison_sandbox.LABEL in v for v in labels(at)), labels(at)
    if page is None:  # the footer (a page that stops early has none)
        assert any(bison_sandbox.LABEL in c.value for c in at.caption)


def wait_for(at: AppTest, kind: str, text: str, seconds: float = 90) -> list[str]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        found = [e.value for e in getattr(at, kind)]
        if any(text in v for v in found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"no {kind} saying {text!r}: {[e.value for e in at.main]}")


def test_sync_now_works_on_the_demo(sandbox, demo_db):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/data_sync.py")
    at.run()
    [b for b in at.button if b.label == "Sync now"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_for(at, "success", "Sync finished.")
    runs_ = demo_db.rows("SELECT status FROM sync_runs WHERE triggered_by <> 'demo'")
    assert runs_ and {r[0] for r in runs_} == {"succeeded"}


def test_no_label_without_the_sandbox(demo_db):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    assert not at.exception
    assert not any(bison_sandbox.LABEL in v for v in labels(at))


# -- the real server ------------------------------------------------------------------------


def test_leadops_serve_runs_it_and_a_handed_over_sync_reaches_it(demo_template, tmp_path):
    """`leadops serve` on a demo database starts the sandbox; `leadops sync bison`, handed over to
    the server, syncs every client from it and the demo's data is as it was."""
    db_path = Path(os.environ["LEADOPS_DB"])
    shutil.copy(demo_template, db_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADOPS_BISON")}
    env["LEADOPS_BISON_RATE_PER_SEC"] = "0"
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline and bison_sandbox.LABEL not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        assert bison_sandbox.LABEL in log.read_text(), log.read_text()
        sync = subprocess.run(
            [sys.executable, "-m", "core.cli.main", "--timeout", "120", "sync", "bison"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert sync.returncode == 0, sync.stdout + sync.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    db = store.Database(db_path)
    template = store.Database(demo_template, read_only=True)
    try:
        statuses = db.rows(
            "SELECT status, count(*) FROM sync_runs WHERE source = 'bison' AND triggered_by <> 'demo'"
            " GROUP BY ALL"
        )
        assert statuses == [("succeeded", 12)], statuses
        assert db.scalar("SELECT count(*) FROM secret_refs WHERE kind = 'bison_token'") == 12
        for table in ("bison_campaigns", "bison_replies", "bison_leads", "client_leads"):
            assert db.scalar(f"SELECT count(*) FROM {table}") == template.scalar(
                f"SELECT count(*) FROM {table}"
            ), table
    finally:
        template.close()
        db.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
