"""The webhook receiver under hostile input: exposure without a secret, idle and half-sent
connections, a flood that fills the event folder, write conflicts, genuine repeats, and files
that are private and do not pile up."""

from __future__ import annotations

import json
import os
import resource
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from core.bison import ingest as webhook_ingest
from core.bison import receiver as webhooks
from core.bison import receiver_guard as guard
from core.demo.sandbox import serving
from core.guardrails import alerts
from core.platform import inbox, settings, store
from core.platform.scope import Scope
from tests.conftest import ROOT
from tests.test_webhooks import (
    SECRET,
    accepted,
    event_files,
    free_port,
    mapped_workspace,
    post,
    reply_event,
    reply_obj,
)


@pytest.fixture
def inbox_path() -> Path:
    return inbox.inbox_dir(store.db_path_from_env())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 1. exposure -------------------------------------------------------------------------------


def test_serve_refuses_a_public_address_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli import webhooks as cli

    started: list[dict] = []
    monkeypatch.setattr(webhooks, "serve", lambda **kw: started.append(kw))
    monkeypatch.delenv("LEADOPS_WEBHOOK_SECRET", raising=False)
    runner = CliRunner()
    for host in ("0.0.0.0", "::", "192.168.1.20", "hooks.example.com"):
        res = runner.invoke(cli.app, ["serve", "--host", host])
        assert res.exit_code == 1, (host, res.output)
        assert "without a secret" in res.output and "LEADOPS_WEBHOOK_SECRET" in res.output
    res = runner.invoke(cli.app, ["serve", "--host", "0.0.0.0", "--secret", "   "])
    assert res.exit_code == 1
    assert started == []  # nothing listened

    for args in (["--host", "127.0.0.1"], ["--host", "localhost"], ["--host", "::1"]):
        assert runner.invoke(cli.app, ["serve", *args]).exit_code == 0
    res = runner.invoke(
        cli.app, ["serve", "--host", "0.0.0.0"], env={"LEADOPS_WEBHOOK_SECRET": SECRET}
    )
    assert res.exit_code == 0 and started[-1]["secret"] == SECRET
    assert SECRET not in res.output
    # The function refuses too, whoever calls it.
    monkeypatch.undo()
    with pytest.raises(guard.ExposedWithoutSecret):
        webhooks.serve(host="0.0.0.0", port=free_port(), secret=None)


# -- 2. connections ----------------------------------------------------------------------------


def _closed_by(sock: socket.socket, deadline: float) -> float | None:
    """When the server closed `sock` (None if still open at `deadline`)."""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(4096):
                return time.monotonic()
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic()
        except TimeoutError:
            return None


def _limit_files() -> None:  # runs in the receiver's process before it starts
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_idle_and_half_sent_connections_neither_linger_nor_lock_out_a_signed_event(
    inbox_path: Path, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "receiver.log"
    sockets: list[socket.socket] = []
    client = httpx.Client(timeout=10)
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli.webhooks", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "LEADOPS_WEBHOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_files,  # 256 open files at most, as on a small server
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)

            # 51 requests whose head never ends: closed within a few seconds.
            head = f"POST /webhooks/bison/{SECRET} HTTP/1.1\r\nHost: hooks\r\nContent-".encode()
            half = []
            for _ in range(51):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(head)
                half.append(sock)
            sockets += half
            opened = time.monotonic()
            limit = opened + guard.HEADER_TIMEOUT_S + 3
            closed = [_closed_by(sock, limit) for sock in half]
            assert None not in closed, f"{closed.count(None)} half-sent requests still open"
            assert max(closed) - opened <= guard.HEADER_TIMEOUT_S + 3

            # 300 idle sockets, more than the receiver may open files: a signed event gets in.
            for _ in range(300):
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(0.3)
            event = reply_event("lead_interested", reply_obj(501, interested=True))
            res = client.post(
                f"{base}/webhooks/bison/{SECRET}",
                content=json.dumps(event),
                headers={"content-type": "application/json"},
            )
            assert res.status_code == 200, res.text
            assert proc.poll() is None
        finally:
            for sock in sockets:
                sock.close()
            client.close()
            proc.terminate()
            proc.wait(timeout=10)
    [path] = event_files(inbox_path)
    assert path.name == f"{res.json()['event_id']}.json" and mode(path) == 0o600
    output = log_path.read_text()
    assert "Too many open files" not in output and "closed connections" in output
    assert SECRET not in output


def test_a_body_that_trickles_in_gets_408_and_the_connection_closes(inbox_path: Path) -> None:
    with serving.serve(webhooks.make_app(inbox_path, SECRET, body_timeout=1)) as base:
        port = int(base.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            f"POST /webhooks/bison/{SECRET} HTTP/1.1\r\nHost: hooks\r\n"
            "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
            '{"event": {"type": '.encode()
        )
        started = time.monotonic()
        sock.settimeout(5)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        sock.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
    assert b"did not arrive within 1 s" in reply
    assert time.monotonic() - started < 3
    assert event_files(inbox_path) == []


# -- 3. a full folder --------------------------------------------------------------------------


def test_a_full_folder_answers_503_and_the_alerts_page_says_so(
    empty_db: store.Database, inbox_path: Path
) -> None:
    db = empty_db
    mapped_workspace(db)
    settings.set_value(db, "webhook_folder_max_mb", 1, actor="test:runner")
    webhooks.ingest(db)  # the app tells the receiver the limit
    limits = inbox_path / guard.LIMITS_FILE
    assert json.loads(limits.read_text()) == {"folder_max_bytes": 1024 * 1024}
    big = "x" * 400_000
    with serving.serve(webhooks.make_app(inbox_path, SECRET)) as base:
        for n in range(3):
            accepted(base, reply_event("lead_replied", reply_obj(510 + n, text_body=big)))
        late = reply_event("lead_replied", reply_obj(520))
        refused = [post(base, late) for _ in range(3)]
        assert [r.status_code for r in refused] == [503] * 3
        assert refused[0].headers["retry-after"] == str(guard.RETRY_AFTER_S)
        assert "send it again later" in refused[0].json()["error"]
        assert len(event_files(inbox_path)) == 3

        # The app's next sync records the refusals, takes the folder in, and the check alerts.
        counts = webhooks.ingest(db)
        assert counts["applied"] == 3 and event_files(inbox_path) == []
        status = db.rows(
            "SELECT refused, episode_refused, refusing_since IS NOT NULL, folder_max_bytes"
            " FROM webhook_receiver_status"
        )
        assert status == [(3, 3, True, 1024 * 1024)]
        alerts.run_checks(db, deliver=False)
        shown = alerts.open_alerts(db, Scope.all()).filter(
            pl.col("check_name") == "webhook_folder_full"
        )
        assert shown.height == 1 and shown["severity"][0] == "danger"
        assert (
            "3 refused" in shown["title"][0] and "webhook_folder_max_mb" in shown["explanation"][0]
        )

        # Email Bison sends it again: accepted now, and the alert resolves at the next sync.
        time.sleep(0.3)
        accepted(base, late)
    assert webhooks.ingest(db)["applied"] == 1
    alerts.run_checks(db, deliver=False)
    assert db.rows("SELECT status FROM alerts WHERE check_name = 'webhook_folder_full'") == [
        ("resolved",)
    ]
    assert db.scalar("SELECT count(*) FROM bison_replies WHERE id = 520") == 1
    assert mode(limits) == 0o600 and mode(inbox_path / guard.STATUS_FILE) == 0o600


# -- 4. a write conflict -----------------------------------------------------------------------


def test_a_write_conflict_keeps_the_file_and_the_event_is_applied_next_time_once(
    empty_db: store.Database, inbox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = mapped_workspace(empty_db)
    real_apply = webhook_ingest.apply_event
    conflicts = [duckdb.TransactionException("TransactionContext Error: Conflict on update")]

    def conflict_once(cur, workspace_id, env, received_at):
        outcome = real_apply(cur, workspace_id, env, received_at)  # written, then the commit fails
        if conflicts:
            raise conflicts.pop()
        return outcome

    monkeypatch.setattr(webhook_ingest, "apply_event", conflict_once)
    folder = webhooks.webhooks_dir(inbox_path)
    event = reply_event("lead_interested", reply_obj(501, interested=True))
    path = webhooks.write_event_file(folder, "evt-501", {"event_id": "evt-501", "payload": event})

    with pytest.raises(duckdb.TransactionException):
        webhooks.ingest(empty_db)
    assert path.exists()  # kept for the next run
    assert empty_db.scalar("SELECT count(*) FROM bison_webhook_events") == 0
    assert empty_db.scalar("SELECT count(*) FROM bison_replies") == 0

    assert webhooks.ingest(empty_db)["applied"] == 1
    assert not path.exists()
    assert webhooks.ingest(empty_db)["received"] == 0
    assert empty_db.rows(
        "SELECT event_id, workspace_id, applied_at IS NOT NULL FROM bison_webhook_events"
    ) == [("evt-501", ws, True)]
    assert empty_db.rows("SELECT id, interested FROM bison_replies") == [(501, True)]


# -- 5. a genuine repeat -----------------------------------------------------------------------


def test_interested_again_after_not_interested_is_a_new_event_a_redelivery_is_not(
    empty_db: store.Database, inbox_path: Path
) -> None:
    db = empty_db
    ws = mapped_workspace(db)
    interested = reply_event("lead_interested", reply_obj(501, interested=True))
    not_interested = reply_event("lead_not_interested", reply_obj(501, interested=False))

    def flag() -> bool:
        return db.scalar("SELECT interested FROM bison_replies WHERE workspace_id = ?", [ws])

    with serving.serve(webhooks.make_app(inbox_path, SECRET)) as base:
        first = accepted(base, interested)
        assert webhooks.ingest(db)["applied"] == 1 and flag() is True
        accepted(base, interested)  # Bison delivers it once more: a redelivery
        assert webhooks.ingest(db)["duplicates"] == 1
        accepted(base, not_interested)
        assert webhooks.ingest(db)["applied"] == 1 and flag() is False
        assert accepted(base, interested) == first  # the same body, a new mark
        assert webhooks.ingest(db)["applied"] == 1
        assert flag() is True
        accepted(base, interested)  # and its redelivery stays a duplicate
        assert webhooks.ingest(db) == {
            "received": 1,
            "applied": 0,
            "duplicates": 1,
            "unmapped": 0,
            "rejected": 0,
            "failed": 0,
        }
        # Not interested again, twice within one sync: the newest state stands.
        accepted(base, not_interested)
        accepted(base, interested)
        accepted(base, not_interested)
        webhooks.ingest(db)
        assert flag() is False
    rows = db.rows(
        "SELECT event_type, event_id = ?, starts_with(event_id, ? || '@'), applied_at IS NOT NULL"
        " FROM bison_webhook_events ORDER BY received_at",
        [first, first],
    )
    assert [r[0] for r in rows] == [
        "lead_interested",
        "lead_not_interested",
        "lead_interested",
        "lead_not_interested",
    ]
    assert rows[0][1] and rows[2][2] and all(r[3] for r in rows)


# -- 6. private files that do not pile up -------------------------------------------------------


def test_event_and_status_files_are_private_and_old_ones_are_pruned(
    empty_db: store.Database, inbox_path: Path
) -> None:
    db = empty_db
    folder = webhooks.webhooks_dir(inbox_path)
    event = webhooks.write_event_file(folder, "evt-1", {"payload": {"event": "x", "data": {}}})
    assert mode(event) == 0o600 and mode(folder) == 0o700
    request_id = inbox.submit(db.path, "export", {"name": "workspaces"}, "test:runner")
    status = inbox.inbox_dir(db.path) / "status" / f"{request_id}.json"
    [pending] = (inbox.inbox_dir(db.path) / "pending").glob("*.json")
    assert mode(status) == 0o600 and mode(pending) == 0o600

    # Unreadable events are set aside privately, and deleted after webhook_retention_days.
    for name in ("old-broken", "new-broken"):
        (folder / f"{name}.json").write_text("{not json")
    assert webhooks.ingest(db)["rejected"] == 2
    rejected = folder / "rejected"
    assert mode(rejected / "old-broken.json.reason.txt") == 0o600
    settings.set_value(db, "webhook_retention_days", 7, actor="test:runner")
    eight_days_ago = time.time() - 8 * 86_400
    for path in rejected.glob("old-broken*"):
        os.utime(path, (eight_days_ago, eight_days_ago))
    crash_left = folder / ".evt-2.json.ab12cd34.tmp"
    crash_left.write_text("{")
    os.utime(crash_left, (eight_days_ago, eight_days_ago))
    webhooks.ingest(db)
    assert sorted(p.name for p in rejected.iterdir()) == [
        "new-broken.json",
        "new-broken.json.reason.txt",
    ]
    assert not crash_left.exists() and event.exists() is False  # evt-1 was taken in
    assert db.scalar("SELECT count(*) FROM bison_webhook_events") == 1  # the row stays

    # Status files nobody collected: finished ones go after STATUS_KEEP_DAYS, live ones stay.
    done = inbox.inbox_dir(db.path) / "status" / "abandoned.json"
    inbox.write_json(done, {"state": "succeeded", "result": {"rows": 3}})
    old = time.time() - (inbox.STATUS_KEEP_DAYS + 1) * 86_400
    for path in (done, status):
        os.utime(path, (old, old))
    assert inbox.prune_status(db.path) == 1
    assert not done.exists() and status.exists() and pending.exists()  # its request still waits
