"""Email Bison webhooks: the receiver served for real on 127.0.0.1, and ingest into the mirror."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from core.accounts import workspaces
from core.bison import ingest as webhook_ingest
from core.bison import receiver as webhooks
from core.bison.payloads import parse_envelope
from core.demo.sandbox import serving
from core.demo.sandbox.data import FakeReply, iso
from core.demo.sandbox.views import ser_reply
from core.platform import inbox, store
from tests.conftest import ROOT

SECRET = "wh-7Kq2-test-secret-Zx9"
BISON_WS = 4101
T0 = 1_790_000_000.0  # 2026-09-21, epoch seconds


# -- payloads in the shapes of EMAIL_BISON_API.md §13.3–13.4 ------------------------------------


def envelope(event_type: str, data: dict[str, Any], workspace: Any = BISON_WS) -> dict[str, Any]:
    return {
        "event": {
            "type": event_type.upper(),
            "name": event_type.replace("_", " ").title(),
            "instance_url": "https://send.agency.example",
            "workspace_id": workspace,
            "workspace_name": "Acme Insurance",
        },
        "data": data,
    }


def reply_obj(reply_id: int, lead_id: int | None = 601, **changes: Any) -> dict[str, Any]:
    reply = FakeReply(
        id=reply_id,
        campaign_id=11 if lead_id else None,
        lead_id=lead_id,
        sender_email_id=701,
        folder="Inbox",
        type="Tracked Reply" if lead_id else "Untracked Reply",
        subject="Re: your home insurance renews soon",
        text="Yes, please send me a quote.",
        from_name="Mary Johnson",
        from_email=f"lead{lead_id or reply_id}@example.com",
        to_email="rep@acme-mail.example",
        received=T0 + reply_id,
        updated=T0 + reply_id,
        scheduled_email_id=9000 + reply_id if lead_id else None,
    )
    return {**ser_reply(reply), **changes}


def lead_obj(lead_id: int, status: str = "verified") -> dict[str, Any]:
    return {
        "id": lead_id,
        "email": f"lead{lead_id}@example.com",
        "first_name": "Mary",
        "last_name": "Johnson",
        "status": status,
        "emails_sent": 2,
        "opens": 0,
        "replies": 1,
    }


def sender_obj(sender_id: int = 701, status: str = "connected", at: float = T0) -> dict[str, Any]:
    return {
        "id": sender_id,
        "name": "Rep",
        "email": "rep@acme-mail.example",
        "status": status,
        "type": "Inbox",
        "daily_limit": 30,
        "emails_sent": 120,
        "created_at": iso(T0 - 86_400),
        "updated_at": iso(at),
    }


def reply_event(event_type: str, reply: dict[str, Any] | None, lead_id: int | None = 601) -> dict:
    data: dict[str, Any] = {
        "campaign_event": {"id": 77, "type": "replied", "created_at": iso(T0)},
        "campaign": {"id": 11, "name": "Evergreen"},
        "sender_email": sender_obj(),
        "scheduled_email": {"id": 9001, "lead_id": lead_id},
    }
    if reply is not None:
        data["reply"] = reply
    if lead_id is not None:
        data["lead"] = lead_obj(lead_id)
    return envelope(event_type, data)


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def inbox_path() -> Path:
    return inbox.inbox_dir(store.db_path_from_env())


@pytest.fixture
def receiver(inbox_path: Path) -> Iterator[str]:
    with serving.serve(webhooks.make_app(inbox_path, SECRET)) as base:
        yield base


def event_files(inbox_path: Path) -> list[Path]:
    return sorted(webhooks.webhooks_dir(inbox_path).glob("*.json"))


_http = httpx.Client(timeout=5)  # one client: building one per request costs ~0.1 s


def post(base: str, payload: Any, *, path: str = f"/webhooks/bison/{SECRET}", **kw: Any):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return _http.post(base + path, content=body, headers={"content-type": "application/json"}, **kw)


def accepted(base: str, payload: Any, **kw: Any) -> str:
    res = post(base, payload, **kw)
    assert res.status_code == 200, res.text
    assert res.json()["ok"] is True
    return res.json()["event_id"]


def mapped_workspace(db: store.Database) -> int:
    return workspaces.create(
        db,
        workspaces.WorkspaceInput(name="Acme Insurance", bison_workspace_id=BISON_WS),
        actor="test:runner",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the receiver ------------------------------------------------------------------------------


def test_accepted_events_are_files_and_a_redelivery_is_the_same_file(
    receiver: str, inbox_path: Path
) -> None:
    event = reply_event("lead_replied", reply_obj(501))
    first = accepted(receiver, event)
    assert len(first) == 64  # no id of its own: SHA-256 of the payload
    [path] = event_files(inbox_path)
    assert path.name == f"{first}.json"
    stored = json.loads(path.read_text())
    assert stored["payload"] == event and stored["event_type"] == "lead_replied"
    assert stored["bison_workspace_id"] == BISON_WS and stored["received_at"]

    # Redelivered, formatted differently, secret in the query this time: the same file.
    again = accepted(
        receiver, json.dumps(event, indent=2), path="/webhooks/bison", params={"secret": SECRET}
    )
    assert again == first and event_files(inbox_path) == [path]

    other = accepted(receiver, reply_event("lead_replied", reply_obj(502)))
    own = accepted(receiver, {**reply_event("email_opened", None), "event_id": "evt-123"})
    assert own == "evt-123" and other != first
    assert {p.name for p in event_files(inbox_path)} == {
        f"{first}.json",
        f"{other}.json",
        "evt-123.json",
    }
    assert not list(webhooks.webhooks_dir(inbox_path).glob(".*"))  # no temporary files left
    assert _http.get(receiver + "/healthz").json() == {"ok": True}


def test_missing_or_wrong_secret_is_401_and_stores_nothing(receiver: str, inbox_path: Path) -> None:
    event = reply_event("lead_replied", reply_obj(501))
    for path, params in [
        ("/webhooks/bison", None),
        ("/webhooks/bison/not-the-secret", None),
        ("/webhooks/bison", {"secret": "not-the-secret"}),
        (f"/webhooks/bison/{SECRET}", {"secret": "not-the-secret"}),
        (f"/webhooks/bison/{SECRET}x", None),
    ]:
        res = post(receiver, event, path=path, params=params)
        assert res.status_code == 401, (path, params)
        assert res.json() == {"ok": False, "error": "Missing or wrong webhook secret."}
    assert event_files(inbox_path) == []


def test_bad_bodies_get_a_clear_4xx(receiver: str, inbox_path: Path) -> None:
    cases: list[tuple[Any, int, str]] = [
        ('{"event": {"type": "LEAD_REPLIED"}, "data": ', 400, "not valid JSON"),
        ("", 400, "empty"),
        (b"\xff\xfe{}", 400, "UTF-8"),
        ('{"event": {"type": "LEAD_REPLIED"}, "data": {"x": NaN}}', 400, "NaN"),
        ('{"event": {"type": "LEAD_REPLIED"}, "data": {"x": "\\ud800"}}', 400, "surrogate"),
        ([1, 2], 422, "JSON object"),
        ({"data": {}}, 422, "no event type"),
        ({"event": {"type": "LEAD_REPLIED"}, "data": [1]}, 422, "'data' must be"),
        ("x" * (webhooks.MAX_BODY_BYTES + 1), 413, "over 1024 KB"),
    ]
    for body, status, message in cases:
        res = post(receiver, body)
        assert res.status_code == status, (body if len(body) < 100 else "big", res.text)
        assert res.json()["ok"] is False and message in res.json()["error"]
    res = _http.get(receiver + f"/webhooks/bison/{SECRET}")
    assert res.status_code == 405 and res.json()["ok"] is False
    assert event_files(inbox_path) == []


def test_a_failed_write_asks_for_a_retry_and_leaves_no_file(
    receiver: str, inbox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = webhooks.write_event_file

    def disk_full(folder: Path, event_id: str, document: dict[str, Any]) -> Path:
        real_write(folder, event_id, document)
        (folder / webhooks.file_name_for(event_id)).unlink()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(webhooks, "write_event_file", disk_full)
    res = post(receiver, reply_event("lead_replied", reply_obj(501)))
    assert res.status_code == 503 and "send it again" in res.json()["error"]
    assert event_files(inbox_path) == []


def test_without_a_secret_configured_events_are_accepted(inbox_path: Path) -> None:
    with serving.serve(webhooks.make_app(inbox_path)) as base:
        event_id = accepted(
            base, reply_event("lead_replied", reply_obj(501)), path="/webhooks/bison"
        )
    assert [p.name for p in event_files(inbox_path)] == [f"{event_id}.json"]


def test_the_secret_never_reaches_the_log(
    receiver: str, inbox_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    event = reply_event("lead_replied", reply_obj(501))
    with caplog.at_level(logging.DEBUG):
        accepted(receiver, event)
        accepted(receiver, event, path="/webhooks/bison", params={"secret": SECRET})
        post(receiver, event, path=f"/webhooks/bison/{SECRET}-wrong")
        post(receiver, "{not json", path=f"/webhooks/bison/{SECRET}")
    server_lines = [
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    ]
    assert len(server_lines) == 4, server_lines
    assert sum("/webhooks/bison/*** 200" in line for line in server_lines) == 1
    assert any("/webhooks/bison?secret=*** 200" in line for line in server_lines)
    assert any("401" in line for line in server_lines) and any(
        "400" in line for line in server_lines
    )
    assert not any(SECRET in line for line in server_lines)
    assert webhooks.redact(f"/webhooks/bison/{SECRET}", f"a=1&secret={SECRET}", SECRET) == (
        "/webhooks/bison/***?a=1&secret=***"
    )


# -- ingest into the store ---------------------------------------------------------------------


def test_ingest_applies_events_to_the_mirror(
    empty_db: store.Database, receiver: str, inbox_path: Path
) -> None:
    db = empty_db
    ws = mapped_workspace(db)
    db.execute(
        "INSERT INTO bison_sender_emails (workspace_id, id, email, status, updated_at)"
        " VALUES (?, 701, 'rep@acme-mail.example', 'connected', to_timestamp(?))",
        [ws, T0 - 3600],
    )
    db.execute(
        "INSERT INTO bison_leads (workspace_id, id, email, status) VALUES (?, 601, ?, 'verified')",
        [ws, "lead601@example.com"],
    )
    # Marked interested before the reply event arrives: the reply must not undo the mark.
    accepted(receiver, reply_event("lead_interested", reply_obj(501, interested=True)))
    accepted(receiver, reply_event("lead_replied", reply_obj(501)))
    untracked = reply_obj(502, lead_id=None, campaign_id="12")
    untracked["email_subject"] = untracked.pop("subject")
    accepted(receiver, envelope("untracked_reply_received", {"reply": untracked}))
    accepted(receiver, reply_event("lead_replied", reply_obj(503, lead_id=603), lead_id=603))
    accepted(receiver, envelope("lead_interested", {"lead": {"id": 603}, "campaign": {"id": 11}}))
    accepted(receiver, reply_event("email_bounced", None, lead_id=601))
    accepted(receiver, envelope("lead_unsubscribed", {"lead": lead_obj(602)}))
    accepted(receiver, envelope("email_account_disconnected", {"sender_email": sender_obj()}))
    accepted(receiver, reply_event("email_opened", None))
    accepted(receiver, reply_event("lead_replied", reply_obj(900)) | {"event": {"type": "X"}})
    accepted(receiver, envelope("lead_replied", {"reply": reply_obj(950)}, workspace=999))
    accepted(receiver, reply_event("lead_replied", {"text_body": "no id"}))
    assert len(event_files(inbox_path)) == 12

    counts = webhooks.ingest(db)
    assert counts == {
        "received": 12,
        "applied": 9,
        "duplicates": 0,
        "unmapped": 2,  # workspace 999, and the event with no workspace at all
        "rejected": 0,
        "failed": 1,  # a reply event without a reply id
    }
    assert event_files(inbox_path) == []

    replies = {
        r[0]: r[1:]
        for r in db.rows(
            "SELECT id, interested, folder, subject, text_body, from_email, campaign_id, lead_id,"
            " date_received = to_timestamp(?) + to_seconds(id) FROM bison_replies"
            " WHERE workspace_id = ?",
            [T0, ws],
        )
    }
    assert set(replies) == {501, 502, 503}
    assert replies[501][:2] == (True, "Inbox") and replies[501][4] == "lead601@example.com"
    assert replies[502][2] == "Re: your home insurance renews soon" and replies[502][5] == 12
    assert replies[502][0] is False and replies[502][3] == "Yes, please send me a quote."
    assert replies[503][0] is True and replies[503][6] == 603
    assert all(r[7] for r in replies.values())  # date_received from the payload
    assert db.rows("SELECT id, category FROM bison_replies ORDER BY id") == [
        (501, "interested"),
        (502, None),
        (503, "interested"),
    ]
    assert db.rows(
        "SELECT lead_key FROM interested_leads WHERE workspace_id = ? ORDER BY 1", [ws]
    ) == [
        ("601",),
        ("603",),
    ]
    assert db.rows("SELECT id, email, status FROM bison_leads ORDER BY id") == [
        (601, "lead601@example.com", "bounced"),
        (602, "lead602@example.com", "unsubscribed"),
    ]
    assert db.scalar("SELECT status FROM bison_sender_emails WHERE id = 701") == "disconnected"

    events = db.rows(
        "SELECT event_type, workspace_id, bison_workspace_id, applied_at IS NOT NULL, error"
        " FROM bison_webhook_events ORDER BY received_at"
    )
    assert len(events) == 12
    assert ("lead_replied", None, 999, False, "unmapped workspace") in events
    assert ("x", None, None, False, "unmapped workspace") in events
    assert (
        "lead_replied",
        ws,
        BISON_WS,
        False,
        "lead_replied: the payload has no reply id",
    ) in events
    assert sum(1 for e in events if e[3]) == 9

    # Reconnected, then an older disconnect delivered late: the newer state stands.
    accepted(
        receiver,
        envelope("email_account_reconnected", {"sender_email": sender_obj(at=T0 + 60)}),
    )
    accepted(
        receiver,
        envelope("email_account_disconnected", {"sender_email": sender_obj(at=T0 + 30)}),
    )
    assert webhooks.ingest(db)["applied"] == 2
    assert db.scalar("SELECT status FROM bison_sender_emails WHERE id = 701") == "connected"
    assert webhooks.ingest(db)["received"] == 0


def test_the_same_event_twice_is_one_file_and_one_row(
    empty_db: store.Database, receiver: str, inbox_path: Path
) -> None:
    ws = mapped_workspace(empty_db)
    event = reply_event("lead_replied", reply_obj(501))
    first = accepted(receiver, event)
    assert accepted(receiver, event) == first and len(event_files(inbox_path)) == 1
    assert webhooks.ingest(empty_db) == {
        "received": 1,
        "applied": 1,
        "duplicates": 0,
        "unmapped": 0,
        "rejected": 0,
        "failed": 0,
    }
    # Delivered once more after it was ingested: stored once, the mirror unchanged.
    empty_db.execute("UPDATE bison_replies SET text_body = 'kept' WHERE id = 501")
    assert accepted(receiver, event) == first
    counts = webhooks.ingest(empty_db)
    assert counts["duplicates"] == 1 and counts["applied"] == 0
    assert empty_db.rows("SELECT event_id, workspace_id FROM bison_webhook_events") == [(first, ws)]
    assert empty_db.scalar("SELECT text_body FROM bison_replies WHERE id = 501") == "kept"
    assert event_files(inbox_path) == []


def test_a_malformed_file_is_set_aside_and_does_not_block_the_rest(
    empty_db: store.Database, inbox_path: Path
) -> None:
    ws = mapped_workspace(empty_db)
    folder = webhooks.webhooks_dir(inbox_path)
    folder.mkdir(parents=True)
    (folder / "aaa-broken.json").write_text('{"event": ')
    (folder / "bbb-no-type.json").write_text(json.dumps({"payload": {"data": {}}}))
    # A bare Email Bison body dropped in the folder is read as an event too.
    bare = reply_event("lead_replied", reply_obj(501))
    (folder / "ccc-bare.json").write_text(json.dumps(bare))
    webhooks.write_event_file(
        folder,
        "evt-1",
        {"event_id": "evt-1", "payload": reply_event("lead_replied", reply_obj(502))},
    )
    counts = webhooks.ingest(empty_db)
    assert counts["rejected"] == 2 and counts["applied"] == 2 and counts["received"] == 2
    assert sorted(p.name for p in (folder / "rejected").iterdir()) == [
        "aaa-broken.json",
        "aaa-broken.json.reason.txt",
        "bbb-no-type.json",
        "bbb-no-type.json.reason.txt",
    ]
    assert "not valid JSON" in (folder / "rejected" / "aaa-broken.json.reason.txt").read_text()
    assert "no event type" in (folder / "rejected" / "bbb-no-type.json.reason.txt").read_text()
    assert event_files(inbox_path) == []
    assert empty_db.rows(
        "SELECT id FROM bison_replies WHERE workspace_id = ? ORDER BY id", [ws]
    ) == [
        (501,),
        (502,),
    ]
    assert webhooks.ingest(empty_db)["rejected"] == 0  # rejected/ is not read again


def test_one_bad_event_does_not_hold_back_its_batch(
    empty_db: store.Database, inbox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = mapped_workspace(empty_db)
    real_apply = webhook_ingest.apply_event

    def apply_or_break(cur, workspace_id, env, received_at):
        real_apply(cur, workspace_id, env, received_at)  # writes, then fails: must roll back
        if env.data["reply"]["id"] == 666:
            raise duckdb.ConstraintException("Constraint Error: simulated")

    monkeypatch.setattr(webhook_ingest, "apply_event", apply_or_break)
    folder = webhooks.webhooks_dir(inbox_path)
    for reply_id in (501, 666, 502):
        payload = reply_event("lead_replied", reply_obj(reply_id))
        webhooks.write_event_file(folder, f"evt-{reply_id}", {"payload": payload})
    counts = webhooks.ingest(empty_db)
    assert (counts["received"], counts["applied"], counts["failed"]) == (3, 2, 1)
    assert empty_db.rows("SELECT id FROM bison_replies ORDER BY id") == [(501,), (502,)]
    errors = empty_db.rows(
        "SELECT workspace_id, applied_at IS NULL, error FROM bison_webhook_events"
        " WHERE error IS NOT NULL"
    )
    assert errors == [
        (ws, True, "could not be applied: ConstraintException: Constraint Error: simulated")
    ]
    assert event_files(inbox_path) == []


def test_envelope_variants() -> None:
    assert parse_envelope(
        {"event": "Contact Replied", "workspace_id": "7", "data": {}}
    ).event_type == ("lead_replied")
    env = parse_envelope({"event": {"name": "Lead Interested", "team_id": 3}, "data": {}})
    assert (env.event_type, env.bison_workspace_id) == ("lead_interested", 3)
    assert parse_envelope({"event_type": "email_sent", "data": {}}).bison_workspace_id is None


# -- the command, in its own process, while no database is open ------------------------------


def test_serve_command_keeps_events_until_the_app_ingests_them(
    migrated_template: Path, inbox_path: Path, tmp_path: Path
) -> None:
    db_path = store.db_path_from_env()
    assert not db_path.exists()
    port = free_port()
    env = {**os.environ, "LEADOPS_WEBHOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "receiver.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli.webhooks", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    if _http.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            # No database yet: the event waits as a file.
            first = accepted(base, reply_event("lead_replied", reply_obj(501)))
            # Now the database exists and this process holds it, as the app would.
            shutil.copy(migrated_template, db_path)
            db = store.get_db(db_path)
            ws = mapped_workspace(db)
            second = accepted(base, reply_event("lead_interested", reply_obj(502)))
            assert post(base, {}, path="/webhooks/bison/guess").status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert {p.name for p in event_files(inbox_path)} == {f"{first}.json", f"{second}.json"}
    assert webhooks.ingest(db)["applied"] == 2
    assert db.rows(
        "SELECT id, interested FROM bison_replies WHERE workspace_id = ? ORDER BY id", [ws]
    ) == [
        (501, False),
        (502, True),
    ]
    output = log_path.read_text()
    assert "/webhooks/bison/<secret>" in output  # the startup line names the URL shape only
    assert output.count("/webhooks/bison/*** 200") == 2 and "/webhooks/bison/*** 401" in output
    assert SECRET not in output and "guess" not in output
