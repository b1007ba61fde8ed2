"""Reply actions against the fake Email Bison (interested toggle, send) and reply drafts from
templates and from a fake OpenAI-compatible model."""

from __future__ import annotations

import re

import polars as pl
import pytest

from connectors.bison import BisonClient
from core.accounts import access, credentials, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.demo.sandbox.serving import serve
from core.platform import secrets, settings
from core.replies import drafts as reply_drafts
from core.replies import inbox as replies
from core.replies import processing
from tests import crm_fixtures
from tests.fakes.llm_server import KEY, LlmFake

memory_keyring = crm_fixtures.memory_keyring

OPERATOR = access.User("ops@agency.test", "operator")
ADMIN = access.User("admin@agency.test", "admin")


@pytest.fixture
def synced(memory_keyring, empty_db, make_bison_fake, bison_server, monkeypatch):
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=2, leads_per_ws=20, replies_per_ws=20)
    bid = fake.workspace_ids[0]
    wid = workspaces.create(
        empty_db, WorkspaceInput(name="Gulf Coast Agency", bison_workspace_id=bid), actor="t"
    )
    secrets.set_secret(
        empty_db, secrets.bison_token_name(wid), fake.token_for(bid), kind="bison_token", actor="t"
    )
    settings.set_value(empty_db, "bison_daily_backfill_days", 1, actor="t")
    settings.set_value(empty_db, "bison_stats_backfill_days", 1, actor="t")

    def factory(token):
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    bison_sync.sync_bison(empty_db, client_factory=factory, today=fake.state.today)
    rid = empty_db.scalar(
        "SELECT id FROM bison_replies WHERE folder = 'Inbox' AND NOT interested ORDER BY id LIMIT 1"
    )
    return empty_db, fake, bid, wid, rid, factory


def test_interested_toggle_round_trips_through_email_bison(synced):
    db, fake, bid, wid, rid, factory = synced
    with pytest.raises(access.PermissionDenied):
        replies.set_interested(
            db, access.User("v@x.com", "viewer"), wid, rid, True, client_factory=factory
        )
    replies.set_interested(db, OPERATOR, wid, rid, True, client_factory=factory)
    assert fake.workspace(bid).replies[rid].interested
    assert db.scalar("SELECT interested FROM bison_replies WHERE id = ?", [rid])
    assert db.scalar("SELECT count(*) FROM interested_leads WHERE workspace_id = ?", [wid]) >= 1
    replies.set_interested(db, OPERATOR, wid, rid, False, client_factory=factory)
    assert not fake.workspace(bid).replies[rid].interested
    actions = [
        r[0] for r in db.rows("SELECT action FROM audit_log WHERE entity = 'reply' ORDER BY id")
    ]
    assert actions == ["reply.interested", "reply.not_interested"]
    with pytest.raises(replies.ReplyActionError, match="No reply"):
        replies.set_interested(db, OPERATOR, wid, 999999999, True, client_factory=factory)


def test_send_answer_through_email_bison_and_mark_handled(synced):
    db, fake, bid, wid, rid, factory = synced
    with pytest.raises(replies.ReplyActionError, match="merge field"):
        replies.send_reply(db, OPERATOR, wid, rid, "Hi {first_name}", client_factory=factory)
    draft = reply_drafts.draft_from_template(
        db, OPERATOR.scope, wid, rid, "Interested: book a call"
    )
    assert "{" not in draft and "Gulf Coast Agency" in draft
    sent_id = replies.send_reply(db, OPERATOR, wid, rid, draft, client_factory=factory)
    sent = fake.workspace(bid).replies[sent_id]
    assert sent.folder == "Sent" and sent.parent_id == rid and sent.text == draft
    conv = replies.conversation(db, OPERATOR.scope, wid, rid)
    assert conv["sent"].height == 1 and conv["reply"]["handled_by"] == OPERATOR.email
    assert (
        replies.inbox(db, OPERATOR.scope, unhandled=True)
        .filter(replies.inbox(db, OPERATOR.scope, unhandled=True)["id"] == rid)
        .height
        == 0
    )


def test_templates_validate_merge_fields(synced):
    db, *_ = synced
    with pytest.raises(replies.ReplyActionError, match=r"\{premium\}"):
        reply_drafts.save_template(db, OPERATOR, "Bad", "Hi {first_name}, your {premium}")
    with pytest.raises(replies.ReplyActionError, match="braces"):
        reply_drafts.save_template(db, OPERATOR, "Bad", "Hi {first_name")
    reply_drafts.save_template(db, OPERATOR, "Short", "Hi {first_name}, call me. {sender_name}")
    assert "Short" in reply_drafts.list_templates(db)["name"].to_list()


def test_draft_from_an_openai_compatible_endpoint(synced, monkeypatch):
    db, fake, bid, wid, rid, factory = synced
    with pytest.raises(replies.ReplyActionError, match="LEADOPS_LLM_URL"):
        reply_drafts.draft_from_model(db, OPERATOR.scope, wid, rid)
    llm = LlmFake()
    with serve(llm) as url:
        monkeypatch.setenv("LEADOPS_LLM_URL", f"{url}/v1")
        monkeypatch.setenv("LEADOPS_LLM_MODEL", "local-model")
        with pytest.raises(replies.ReplyActionError, match="401"):
            reply_drafts.draft_from_model(db, OPERATOR.scope, wid, rid)
        credentials.save(db, ADMIN, reply_drafts.LLM_KEY_NAME, "llm_key", KEY)
        text = reply_drafts.draft_from_model(
            db, OPERATOR.scope, wid, rid, instructions="Keep it short"
        )
        assert text.startswith("Hi there") and "Gulf Coast Agency" in text
        prompt = llm.prompts[0]
        assert prompt["model"] == "local-model"
        body = db.scalar("SELECT text_body FROM bison_replies WHERE id = ?", [rid])
        assert (
            body in prompt["messages"][-1]["content"]
            and "Keep it short" in prompt["messages"][-1]["content"]
        )
        llm.fail_with = 503
        with pytest.raises(replies.ReplyActionError, match="did not answer"):
            reply_drafts.draft_from_model(db, OPERATOR.scope, wid, rid, sleep=lambda s: None)


def test_staff_override_survives_a_sync_and_new_replies_are_classified(synced):
    db, fake, bid, wid, rid, factory = synced
    replies.set_category(db, OPERATOR, wid, rid, "wrong_person")
    result = bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today, full=True)
    # what the sync.bison job does next
    processing.process_new_replies(db, result["workspace_ids"], ingest=False)
    row = db.rows(
        "SELECT override_category, override_by FROM reply_labels WHERE workspace_id = ? AND reply_id = ?",
        [wid, rid],
    )[0]
    assert row == ("wrong_person", OPERATOR.email)
    assert (
        replies.inbox(db, OPERATOR.scope, category="wrong_person")["id"].to_list().count(rid) == 1
    )
    unlabelled = db.scalar(
        "SELECT count(*) FROM bison_replies r LEFT JOIN reply_labels x"
        " ON x.workspace_id = r.workspace_id AND x.reply_id = r.id WHERE x.reply_id IS NULL"
    )
    assert unlabelled == 0
    replies.set_category(db, OPERATOR, wid, rid, None)
    assert (
        replies.inbox(db, OPERATOR.scope, category="wrong_person")["id"].to_list().count(rid) == 0
    )


HOSTILE = "Hi {first_name:>300000000}, thanks"  # rendered through str.format: 300 MB


@pytest.mark.parametrize(
    "body, field",
    [
        (HOSTILE, "{first_name:>300000000}"),
        ("Hi {first_name!r}", "{first_name!r}"),
        ("Hi {first_name:{email}}", "{first_name:{email}}"),
        ("Hi {first_name.__class__}", "{first_name.__class__}"),
        ("Hi {first_name[0]}", "{first_name[0]}"),
    ],
)
def test_templates_allow_only_plain_merge_fields(synced, body, field):
    db, *_ = synced
    with pytest.raises(replies.ReplyActionError, match=re.escape(field) + ".*write {first_name}"):
        reply_drafts.save_template(db, OPERATOR, "Wide", body)
    assert "Wide" not in reply_drafts.list_templates(db)["name"].to_list()
    with pytest.raises(replies.ReplyActionError, match=re.escape(field)):
        reply_drafts.render(body, {"first_name": "Ann"})


def test_a_stored_bad_template_is_refused_not_rendered(synced):
    """A template stored before the check (or written straight to the database) never reaches
    str.format: drafting from it says which field is wrong."""
    db, fake, bid, wid, rid, factory = synced
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO reply_templates (name, body, updated_by) VALUES ('Wide', ?, 'legacy')",
            [HOSTILE],
        )
    with pytest.raises(replies.ReplyActionError, match=re.escape("{first_name:>300000000}")):
        reply_drafts.draft_from_template(db, OPERATOR.scope, wid, rid, "Wide")


def test_render_fills_plain_fields_only_once():
    values = {"first_name": "{first_name:>300000000}", "client": "Gulf {Coast}"}
    assert (
        reply_drafts.render("Hi {first_name} from {client} {{literal}} {last_name}.", values)
        == "Hi {first_name:>300000000} from Gulf {Coast} {literal} ."
    )
    with pytest.raises(replies.ReplyActionError, match="at most 10,000"):
        reply_drafts.save_template(None, OPERATOR, "Long", "{first_name} " * 1000)


def test_opening_a_reply_marks_it_read_and_a_sync_does_not_undo_it(synced):
    db, fake, bid, wid, rid, factory = synced
    db.execute("UPDATE bison_replies SET read = false WHERE workspace_id = ?", [wid])
    before = replies.inbox_count(db, OPERATOR.scope)
    assert before["unread"] == before["total"] > 0
    viewer = access.User("v@agency.test", "viewer")  # reading needs no staff rights
    assert replies.mark_opened(db, viewer, wid, rid) is True
    assert replies.mark_opened(db, OPERATOR, wid, rid) is False  # the first opening counts
    after = replies.inbox_count(db, OPERATOR.scope)
    assert after["unread"] == before["unread"] - 1 and after["total"] == before["total"]
    row = replies.inbox(db, OPERATOR.scope).filter(pl.col("id") == rid).row(0, named=True)
    assert row["read"] is True
    assert rid not in replies.inbox(db, OPERATOR.scope, unread=True)["id"].to_list()
    conv = replies.conversation(db, OPERATOR.scope, wid, rid)
    assert conv["reply"]["opened_by"] == "v@agency.test"
    # Email Bison still says unread: the next sync writes that back, the opening stays
    db.execute(
        "UPDATE bison_replies SET read = false WHERE workspace_id = ? AND id = ?", [wid, rid]
    )
    assert replies.inbox_count(db, OPERATOR.scope)["unread"] == after["unread"]
    assert replies.stats(db, OPERATOR.scope)["unread"].sum() == after["unread"]
    with pytest.raises(replies.ReplyActionError, match="cannot see"):
        replies.mark_opened(
            db, access.User("c@client.test", "client", workspace_id=wid + 1), wid, rid
        )
    with pytest.raises(replies.ReplyActionError, match="No reply"):
        replies.mark_opened(db, OPERATOR, wid, 999999999)


def test_handling_changes_the_handled_column_and_counts(synced):
    db, fake, bid, wid, rid, factory = synced
    before = replies.inbox_count(db, OPERATOR.scope)
    replies.mark_handled(db, OPERATOR, wid, rid)
    row = replies.inbox(db, OPERATOR.scope).filter(pl.col("id") == rid).row(0, named=True)
    assert row["handled"] is True
    assert replies.inbox_count(db, OPERATOR.scope)["unhandled"] == before["unhandled"] - 1
    replies.mark_handled(db, OPERATOR, wid, rid, False)
    assert replies.inbox_count(db, OPERATOR.scope)["unhandled"] == before["unhandled"]


def test_inbox_pages_through_every_match_with_a_total(synced):
    db, fake, bid, wid, rid, factory = synced
    total = db.scalar(
        "SELECT count(*) FROM bison_replies WHERE coalesce(folder, 'Inbox') <> 'Sent'"
    )
    assert replies.inbox_count(db, OPERATOR.scope)["total"] == total > 6
    pages = [replies.inbox(db, OPERATOR.scope, limit=5, offset=o) for o in range(0, total, 5)]
    ids = [i for p in pages for i in p["id"].to_list()]
    assert len(ids) == len(set(ids)) == total  # every reply once, none capped
    received = [r for p in pages for r in p["received"].to_list()]
    assert received == sorted(received, reverse=True)
    assert pages[-1].height == total - 5 * (len(pages) - 1)
    with pytest.raises(ValueError, match="offset"):
        replies.inbox(db, OPERATOR.scope, offset=-1)
    # a day range: since and until are both included
    day = received[0].date()
    today = replies.inbox(db, OPERATOR.scope, since=day, until=day)
    assert today.height == sum(1 for r in received if r.date() == day) > 0
    assert replies.inbox_count(db, OPERATOR.scope, since=day, until=day)["total"] == today.height


def test_replies_from_the_command_line(synced):
    from typer.testing import CliRunner

    from core.cli.main import app

    db, fake, bid, wid, rid, factory = synced
    runner = CliRunner()
    total = replies.inbox_count(db, OPERATOR.scope)["total"]
    res = runner.invoke(app, ["replies", "list", "--limit", "5", "--page", "2"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"{total:,} replies (")
    assert f"page 2 of {-(-total // 5):,}" in res.output
    assert len(res.output.strip().splitlines()) == 1 + min(5, total - 5)
    res = runner.invoke(app, ["replies", "handled", str(rid), "--workspace", "Gulf Coast Agency"])
    assert res.exit_code == 0, res.output
    assert f"Reply {rid} is handled." in res.output
    assert replies.conversation(db, OPERATOR.scope, wid, rid)["reply"]["handled_at"] is not None
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'reply.handled'") == 1
    res = runner.invoke(app, ["replies", "list", "--unhandled", "--limit", "1000"])
    assert f"#{rid} " not in res.output
    res = runner.invoke(
        app, ["replies", "handled", str(rid), "--workspace", "Gulf Coast Agency", "--reopen"]
    )
    assert res.exit_code == 0 and "open again" in res.output
    res = runner.invoke(
        app, ["replies", "handled", "999999999", "--workspace", "Gulf Coast Agency"]
    )
    assert res.exit_code == 1 and "No reply" in res.output
    res = runner.invoke(app, ["replies", "list", "--workspace", "Nobody Inc"])
    assert res.exit_code == 1 and "No client named" in res.output
