"""Suppression that keeps itself current: Email Bison unsubscribes and hard bounces (webhook events
posted to the real receiver, and each sync against the fake Email Bison) and removal-request
replies reach the suppression list with source and date; the next upload holds those contacts
back; single changes, search and counts."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from core.accounts import access, workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import receiver as webhooks
from core.demo.sandbox import serving
from core.pipeline import batching, filters, suppression, uploads, verification
from core.pipeline.contact_import import import_file
from core.platform import inbox, jobs, secrets, store, suppression_store
from core.replies import processing
from tests.test_contacts import HEADER, people
from tests.test_pipeline import MONTH, bison_factory, write_contacts, ws  # noqa: F401
from tests.test_webhooks import SECRET, accepted, envelope, reply_event, reply_obj

ADMIN = access.LOCAL_ADMIN


def lead(lead_id: int, email: str) -> dict:
    return {
        "id": lead_id,
        "email": email,
        "first_name": "A",
        "last_name": "B",
        "status": "verified",
    }


@pytest.fixture
def receiver():
    with serving.serve(webhooks.make_app(inbox.inbox_dir(store.db_path_from_env()), SECRET)) as b:
        yield b


def test_webhook_events_and_replies_suppress_and_the_next_upload_holds_them_back(
    ws,  # noqa: F811
    tmp_path,
    receiver,
    bison_fake,
    bison_factory,  # noqa: F811
):
    import_file(ws, 1, write_contacts(tmp_path / "m.csv", people(120), HEADER), actor="t")
    filters.filter_stage(ws, 1, MONTH)
    verification.verify_stage(ws, 1, MONTH)
    ws.execute("UPDATE package_tiers SET refined_contacts = 100 WHERE tier = '100'")
    batching.batch_stage(ws, 1, MONTH)
    a, b, c = [
        e
        for (e,) in ws.rows(
            "SELECT email FROM contacts WHERE status = 'batched' ORDER BY id DESC LIMIT 3"
        )
    ]
    # After batching, Email Bison reports an unsubscribe and a bounce, and C asks to be removed.
    accepted(receiver, envelope("lead_unsubscribed", {"lead": lead(9001, a)}, workspace=1))
    bounce = reply_event("email_bounced", None, lead_id=None)
    bounce["data"]["lead"] = lead(9002, b.upper())
    accepted(receiver, {**bounce, "event": {**bounce["event"], "workspace_id": 1}})
    removal = reply_obj(7001, lead_id=None, from_email_address=c, text_body="Please remove me.")
    accepted(receiver, envelope("untracked_reply_received", {"reply": removal}, workspace=1))
    before = dt.datetime.now(dt.UTC)
    out = processing.process_new_replies(ws, deal_stages=False)
    assert out["webhooks"]["applied"] == 3, out
    assert out.get("suppressed") == {"email bison webhook": 2, "reply": 1}, out
    listed = {
        r[0]: r[1:]
        for r in ws.rows("SELECT email_key, reason, source, detail, added_at FROM suppression_list")
    }
    assert listed[a][:3] == (
        "unsubscribed",
        "email bison webhook",
        "Acme Insurance: Email Bison lead 9001",
    )
    assert listed[b][:2] == ("bounced", "email bison webhook")
    assert listed[c][:2] == ("removal request", "reply")
    assert listed[a][3] <= before  # dated when the event arrived, not when it was processed
    assert processing.process_new_replies(ws, deal_stages=False)["suppressed"] == {}  # once
    audit = json.loads(
        ws.scalar("SELECT after FROM audit_log WHERE action = 'suppression.auto_add'")
    )
    assert audit["added"] == 3 and sorted(audit["emails"]) == sorted([a, b, c])

    campaign = min(bison_fake.workspace(1).campaigns)
    uploads.set_campaigns(ws, ADMIN, 1, upload_campaign_id=campaign, evergreen_campaign_id=None)
    result = uploads.upload_stage(ws, 1, MONTH, client_factory=bison_factory)
    assert result["held_back"] == 3 and result["output"] == 97
    sent = {lead.email.lower() for lead in bison_fake.workspace(1).leads.values()}
    assert (
        not {a, b, c} & sent
        and len(sent & {e for (e,) in ws.rows("SELECT email FROM contacts")}) == 97
    )
    held = ws.rows(
        "SELECT status, reject_reason, batch_id FROM contacts WHERE email IN (?, ?, ?)", [a, b, c]
    )
    assert set(held) == {("rejected", "suppressed", None)}
    assert ws.scalar("SELECT sum(contact_count) FROM batches") == 97
    assert ws.scalar("SELECT count(*) FROM contact_events WHERE kind = 'held_back'") == 3
    assert result["batches"] and sum(result["batches"].values()) == 97


@pytest.fixture
def synced(empty_db, make_bison_fake, bison_server, monkeypatch):
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(workspaces=1, campaigns_per_ws=2, leads_per_ws=30, replies_per_ws=5)
    bid = fake.workspace_ids[0]
    wid = workspaces.create(
        empty_db, WorkspaceInput(name="Acme", bison_workspace_id=bid), actor="t"
    )
    secrets.set_secret(
        empty_db, secrets.bison_token_name(wid), fake.token_for(bid), kind="bison_token", actor="t"
    )
    return empty_db, fake, bid


def test_each_sync_adds_unsubscribed_and_bounced_leads(synced):
    db, fake, bid = synced
    jobs.run(db, "sync.bison", {}, requested_by="t")
    first = db.scalar("SELECT count(*) FROM suppression_list WHERE source = 'email bison sync'")
    leads = sorted(fake.workspace(bid).leads.values(), key=lambda x: x.id)
    fresh = [x for x in leads if x.status not in ("unsubscribed", "bounced")][:2]
    for x, status in zip(fresh, ("unsubscribed", "bounced"), strict=True):
        x.status, x.updated = status, time.time()
    fake.workspace(bid).touch()
    jobs.run(db, "sync.bison", {}, requested_by="t")
    rows = dict(
        db.rows("SELECT email_key, reason FROM suppression_list WHERE source = 'email bison sync'")
    )
    assert len(rows) == first + 2
    assert (
        rows[fresh[0].email.lower()] == "unsubscribed" and rows[fresh[1].email.lower()] == "bounced"
    )


def test_single_add_remove_search_and_counts(ws):  # noqa: F811
    suppression.add_addresses(ws, ADMIN, ["x@example.com", "y@example.com"], "asked by phone")
    suppression.remove_addresses(ws, ADMIN, ["y@example.com"], "added by mistake")
    with ws.transaction() as cur:
        suppression_store.insert(
            cur,
            [{"email_key": "Z@Example.com", "reason": "bounced", "detail": "Acme: lead 5"}],
            added_by="email bison",
            source="email bison webhook",
        )
    page, total = suppression.search(ws, "acme")
    assert total == 1 and page["email"].to_list() == ["z@example.com"]
    assert suppression.search(ws, reason="asked by phone")[1] == 1
    assert suppression.search(ws, source="manual", limit=1)[0].height == 1
    counts = suppression_store.counts_by_reason(ws).select("reason", "addresses").rows()
    assert sorted(counts) == [("asked by phone", 1), ("bounced", 1)]
    with pytest.raises(suppression.SuppressionError, match="Reason"):
        suppression.remove_addresses(ws, ADMIN, ["x@example.com"], " ")
