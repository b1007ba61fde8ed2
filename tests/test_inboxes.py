"""Sending-account actions against the fake Email Bison over real HTTP: pause (daily limit 0, the
old limit kept), resume, daily limit, warm-up, for a selection; audited; the guardrail's opt-in
automatic pause of a bouncing inbox; the command line; the page."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.accounts import access
from core.campaigns import campaigns, inboxes
from core.guardrails import alerts as guardrails
from core.platform import store
from core.platform.scope import Scope
from tests.test_alerts import bison_setup  # noqa: F401  (one client synced from the fake)
from tests.test_guardrails import NOW
from tests.test_pages import APP

OPS = access.User("ops@agency.com", "operator")
ADMIN = access.User("admin@agency.com", "admin")


def fake_sender(fake, sid):
    for ws in fake.state.workspaces.values():
        if sid in ws.senders:
            return ws.senders[sid]
    raise AssertionError(sid)


def connected(db, wid, n):
    return [
        r[0]
        for r in db.rows(
            "SELECT id FROM bison_sender_emails WHERE workspace_id = ? AND status = 'connected'"
            " AND daily_limit > 0 ORDER BY id LIMIT ?",
            [wid, n],
        )
    ]


def mirror(db, wid, sid):
    return db.query(
        "SELECT daily_limit, warmup_enabled FROM bison_sender_emails WHERE workspace_id = ? AND id = ?",
        [wid, sid],
    ).row(0, named=True)


def test_pause_limit_resume_and_warmup_reach_email_bison_and_the_audit_log(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    a, b = connected(db, wid, 2)
    fake_sender(fake, b)["daily_limit"] = 45
    db.execute("UPDATE bison_sender_emails SET daily_limit = 45 WHERE id = ?", [b])
    fake.reset_requests()

    r = inboxes.inbox_action(
        db, OPS, [(wid, a), (wid, b)], "pause", reason="bouncing", client_factory=factory
    )
    assert len(r.changed) == 2 and not r.failed and not r.skipped
    assert fake.count_requests("PATCH") == 1  # one bulk call for the selection
    assert fake_sender(fake, a)["daily_limit"] == 0 and fake_sender(fake, b)["daily_limit"] == 0
    assert mirror(db, wid, a)["daily_limit"] == 0
    paused = inboxes.paused_accounts(db, wid)
    assert dict(zip(paused["sender_email_id"], paused["previous_daily_limit"], strict=True)) == {
        a: 30,
        b: 45,
    }
    page = campaigns.sender_accounts(db, Scope.all())
    row = page.filter(page["id"] == b).row(0, named=True)
    assert row["status"] == "paused" and row["resumes_with"] == 45

    again = inboxes.inbox_action(db, OPS, [(wid, a)], "pause", reason="x", client_factory=factory)
    assert again.changed == [] and again.skipped[0].endswith("already paused")

    # a new limit for a paused account is kept for its resume; Email Bison is not called
    before = fake.count_requests("PATCH")
    inboxes.inbox_action(db, OPS, [(wid, a)], "limit", daily_limit=12, client_factory=factory)
    assert fake.count_requests("PATCH") == before and fake_sender(fake, a)["daily_limit"] == 0

    r = inboxes.inbox_action(db, OPS, [(wid, a), (wid, b)], "resume", client_factory=factory)
    assert len(r.changed) == 2
    assert fake_sender(fake, a)["daily_limit"] == 12 and fake_sender(fake, b)["daily_limit"] == 45
    assert mirror(db, wid, b)["daily_limit"] == 45 and inboxes.paused_accounts(db).height == 0

    inboxes.inbox_action(db, OPS, [(wid, b)], "limit", daily_limit=25, client_factory=factory)
    assert fake_sender(fake, b)["daily_limit"] == 25 and mirror(db, wid, b)["daily_limit"] == 25

    fake_sender(fake, a)["warmup_enabled"] = True
    db.execute("UPDATE bison_sender_emails SET warmup_enabled = true WHERE id = ?", [a])
    r = inboxes.inbox_action(db, OPS, [(wid, a)], "warmup_off", client_factory=factory)
    assert r.changed and fake_sender(fake, a)["warmup_enabled"] is False
    assert mirror(db, wid, a)["warmup_enabled"] is False
    r = inboxes.inbox_action(db, OPS, [(wid, a)], "warmup_off", client_factory=factory)
    assert r.skipped == [f"{r.skipped[0].split(':')[0]}: warm-up already off"]

    log = db.rows(
        "SELECT action, entity_id, actor FROM audit_log WHERE entity = 'sender_email' ORDER BY id"
    )
    assert [x[0] for x in log] == [
        "sender.pause",
        "sender.pause",
        "sender.limit",
        "sender.resume",
        "sender.resume",
        "sender.limit",
        "sender.warmup_off",
    ]
    assert {x[2] for x in log} == {"ops@agency.com"}
    first = json.loads(
        db.scalar(
            "SELECT CAST(after AS VARCHAR) FROM audit_log WHERE entity = 'sender_email' ORDER BY id LIMIT 1"
        )
    )
    assert first["daily_limit"] == 0 and first["reason"] == "bouncing"

    # the next sync reads back what was set
    from core.bison import sync as bison_sync

    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    assert mirror(db, wid, b)["daily_limit"] == 25 and mirror(db, wid, a)["warmup_enabled"] is False


def test_bad_input_and_roles_are_refused_with_a_reason(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    (a,) = connected(db, wid, 1)
    with pytest.raises(inboxes.InboxActionError, match="between 1 and 10,000"):
        inboxes.inbox_action(db, OPS, [(wid, a)], "limit", daily_limit=0)
    with pytest.raises(inboxes.InboxActionError, match="whole number"):
        inboxes.inbox_action(db, OPS, [(wid, a)], "limit", daily_limit="lots")
    with pytest.raises(inboxes.InboxActionError, match="Say why"):
        inboxes.inbox_action(db, OPS, [(wid, a)], "pause", reason="  ")
    with pytest.raises(inboxes.InboxActionError, match="Unknown action"):
        inboxes.inbox_action(db, OPS, [(wid, a)], "delete")
    with pytest.raises(inboxes.InboxActionError, match="No sending account 999"):
        inboxes.inbox_action(db, OPS, [(wid, 999)], "warmup_on")
    with pytest.raises(access.PermissionDenied):
        inboxes.inbox_action(db, access.User("v@a.com", "viewer"), [(wid, a)], "warmup_on")
    other = access.User("c@x.com", "client", workspace_id=wid + 1)
    with pytest.raises(access.PermissionDenied):  # a client user never acts on inboxes
        inboxes.inbox_action(db, other, [(wid, a)], "warmup_on")
    with pytest.raises(inboxes.InboxActionError, match="No sending account 'nobody@x.com'"):
        inboxes.resolve_accounts(db, OPS, ["nobody@x.com"])
    # Email Bison refusing is said, and nothing changes here
    r = inboxes.inbox_action(
        db, OPS, [(wid, a)], "pause", reason="r", client_factory=lambda t: factory("wrong-token")
    )
    assert r.failed and "Email Bison refused" in r.failed[0] and not r.changed
    assert inboxes.paused_accounts(db).height == 0 and mirror(db, wid, a)["daily_limit"] > 0


def test_a_bouncing_inbox_is_paused_by_the_guardrail_only_when_asked(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    (a,) = connected(db, wid, 1)
    db.execute("UPDATE bison_sender_emails SET bounced_count = 0")
    db.execute("DELETE FROM bison_campaign_daily")
    db.execute(
        "UPDATE bison_sender_emails SET emails_sent_count = 1000, bounced_count = 90 WHERE id = ?",
        [a],
    )
    guardrails.run_checks(db, now=NOW, client_factory=factory)  # off by default
    assert fake_sender(fake, a)["daily_limit"] > 0
    alert = db.query("SELECT * FROM alerts WHERE check_name = 'sender_bounce_rate'")
    assert alert.height == 1 and alert["auto_action"][0] is None
    db.execute("DELETE FROM alerts")
    guardrails.set_override(db, ADMIN, wid, "guard_auto_pause_senders", True)
    out = guardrails.run_checks(db, now=NOW + dt.timedelta(minutes=1), client_factory=factory)
    assert out["auto_paused"] == 1 and fake_sender(fake, a)["daily_limit"] == 0
    row = db.query(
        "SELECT auto_action FROM alerts WHERE status = 'open' AND check_name = 'sender_bounce_rate'"
    ).row(0, named=True)
    assert "Paused the sending account" in row["auto_action"]
    assert db.rows("SELECT actor, action FROM audit_log WHERE entity = 'sender_email'") == [
        ("system:guardrails", "sender.pause")
    ]
    assert inboxes.paused_accounts(db)["reason"][0].startswith("bounce rate alert")
    # the open alert links to the account on the Sending accounts page
    open_ = guardrails.open_alerts(db, Scope.all(), now=NOW)
    senders = open_.filter(open_["check_name"] == "sender_bounce_rate")
    assert senders["subject_id"].to_list() == [str(a)]


def test_inboxes_from_the_command_line(bison_setup, monkeypatch):  # noqa: F811
    db, fake, wid, factory = bison_setup
    a, b = connected(db, wid, 2)
    email_a = db.scalar("SELECT email FROM bison_sender_emails WHERE id = ?", [a])
    db.close()
    store.close_all()
    run = CliRunner().invoke
    from core.cli.main import app

    r = run(app, ["inboxes", "pause", email_a, str(b)])
    assert r.exit_code != 0 and "--reason" in r.output
    r = run(app, ["inboxes", "pause", email_a, str(b), "--reason", "too many bounces"])
    assert r.exit_code == 0, r.output
    assert "2 account(s) paused." in r.output and fake_sender(fake, b)["daily_limit"] == 0
    r = run(app, ["inboxes", "list", "--workspace", "Client A"])
    assert r.exit_code == 0 and "paused" in r.output and "(resumes 30)" in r.output
    r = run(app, ["inboxes", "limit", str(a), "--daily", "0"])
    assert r.exit_code == 1 and "between 1 and 10,000" in r.output
    r = run(app, ["inboxes", "resume", str(a)])
    assert r.exit_code == 0 and "1 account(s) resumed." in r.output
    assert fake_sender(fake, a)["daily_limit"] == 30
    r = run(app, ["inboxes", "warmup", "maybe", str(a)])
    assert r.exit_code == 2
    r = run(app, ["inboxes", "warmup", "on", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert fake_sender(fake, b)["warmup_enabled"] is True
    r = run(app, ["inboxes", "pause", "nobody@nowhere.com", "--reason", "x"])
    assert r.exit_code == 1 and "No sending account 'nobody@nowhere.com'" in r.output


def test_the_page_lists_paused_accounts_and_offers_the_actions(bison_setup):  # noqa: F811
    db, fake, wid, factory = bison_setup
    (a,) = connected(db, wid, 1)
    inboxes.inbox_action(db, OPS, [(wid, a)], "pause", reason="test", client_factory=factory)
    db.close()
    store.close_all()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/sending_accounts.py")
    at.query_params["inbox"] = str(a)
    at.run()
    assert not at.exception, at.exception
    assert any("the alert is about" in i.value for i in at.info)
    picked = at.multiselect[0]
    assert picked.value == [f"{wid}:{a}"]  # the linked account, ready to act on
    assert at.selectbox(key="inbox-action").options[0] == "Pause"
