"""Email Bison sync against the fake server over real HTTP."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from connectors.bison import BisonClient
from core.accounts import workspaces
from core.accounts.workspaces import WorkspaceInput
from core.bison import sync as bison_sync
from core.platform import secrets, sync_status
from core.platform.scope import Scope

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pytest.fixture
def setup(empty_db, make_bison_fake, bison_server, monkeypatch):
    """Two of our clients mapped to the fake's two Bison workspaces, tokens in the secret store."""
    monkeypatch.setenv("LEADOPS_BISON_URL", bison_server.url)
    monkeypatch.setenv("LEADOPS_BISON_RATE_PER_SEC", "0")
    fake = make_bison_fake(workspaces=2, campaigns_per_ws=5, leads_per_ws=80, replies_per_ws=50)
    ids = []
    for bid in fake.workspace_ids:
        wid = workspaces.create(
            empty_db, WorkspaceInput(name=f"Client {bid}", bison_workspace_id=bid), actor="t"
        )
        secrets.set_secret(
            empty_db,
            secrets.bison_token_name(wid),
            fake.token_for(bid),
            kind="bison_token",
            actor="t",
        )
        ids.append(wid)

    def factory(token):
        return BisonClient(bison_server.url, token, rate_per_sec=None, sleep=lambda s: None)

    return empty_db, fake, ids, factory


def snapshot(db) -> dict[str, list]:
    return {
        t: db.rows(f"SELECT * EXCLUDE (synced_at) FROM {t} ORDER BY ALL")
        for t in (
            "bison_campaigns",
            "bison_sequence_steps",
            "bison_replies",
            "bison_leads",
            "bison_sender_emails",
            "bison_tags",
        )
    } | {
        t: db.rows(f"SELECT * FROM {t} ORDER BY ALL")
        for t in ("bison_campaign_daily", "bison_step_stats")
    }


def fake_counts(fake, bid):
    ws = fake.workspace(bid)
    inbound = [
        r for r in ws.replies.values() if (getattr(r, "folder", "Inbox") or "").lower() != "sent"
    ]
    return {
        "campaigns": len(ws.campaigns),
        "leads": len(ws.leads),
        "replies": len(inbound),
        "senders": len(ws.senders),
    }


def test_full_sync_mirrors_the_fake(setup):
    db, fake, ids, factory = setup
    result = bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    assert result["failed"] == [], result
    for wid, bid in zip(ids, fake.workspace_ids, strict=True):
        want = fake_counts(fake, bid)
        got = dict(
            zip(
                ["campaigns", "leads", "replies", "senders"],
                db.rows(
                    "SELECT (SELECT count(*) FROM bison_campaigns WHERE workspace_id = $w),"
                    " (SELECT count(*) FROM bison_leads WHERE workspace_id = $w),"
                    " (SELECT count(*) FROM bison_replies WHERE workspace_id = $w),"
                    " (SELECT count(*) FROM bison_sender_emails WHERE workspace_id = $w)",
                    {"w": wid},
                )[0],
                strict=True,
            )
        )
        assert got == want
    # variants point at originals; per-step stats and per-day series arrived
    assert db.scalar("SELECT count(*) FROM bison_sequence_steps WHERE variant") > 0
    assert (
        db.scalar(
            "SELECT count(*) FROM bison_sequence_steps WHERE variant AND variant_of_step_id IS NULL"
        )
        == 0
    )
    assert db.scalar("SELECT count(*) FROM bison_step_stats") > 0
    assert db.scalar("SELECT count(*) FROM bison_campaign_daily") > 0
    runs = db.query("SELECT status, requests, counts FROM sync_runs ORDER BY id")
    assert runs["status"].to_list() == ["succeeded", "succeeded"] and min(runs["requests"]) > 10


def test_no_change_sync_makes_only_the_requests_needed(setup):
    db, fake, ids, factory = setup
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    first = fake.request_count
    before = snapshot(db)
    fake.reset_requests()
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    second = fake.request_count
    assert snapshot(db) == before
    # per client: one page each of campaigns, new replies, interested replies, leads updated
    # today, sending accounts and tags
    assert second <= 6 * len(ids) < first, (second, first)
    # no per-campaign detail, stats or step requests at all
    paths = [r.path for r in fake.requests]
    assert not [p for p in paths if "/stats" in p or "sequence-steps" in p or "line-area" in p], (
        paths
    )


def test_schedules_are_mirrored_and_read_again_once_a_day(setup):
    db, fake, ids, factory = setup
    today = fake.state.today
    bison_sync.sync_bison(db, client_factory=factory, today=today)
    bid, wid = fake.workspace_ids[0], ids[0]

    def stored():
        return {
            cid: (days, str(start), str(end), tz)
            for cid, days, start, end, tz in db.rows(
                "SELECT campaign_id, days, start_time, end_time, timezone"
                " FROM bison_campaign_schedules WHERE workspace_id = ?",
                [wid],
            )
        }

    want = {
        cid: (
            [d for d in WEEK if s[d]],
            f"{s['start_time']}:00",
            f"{s['end_time']}:00",
            s["timezone"],
        )
        for cid, s in fake.workspace(bid).schedules.items()
        if s is not None
    }
    assert want and stored() == want
    can_send = {"draft", "active", "paused", "launching", "queued"}
    asked_for = {
        c for c, v in fake.workspace(bid).campaigns.items() if v["status"].lower() in can_send
    }
    assert set(fake.workspace(bid).schedules) == asked_for  # only campaigns that can still send
    # A schedule changed in Email Bison leaves the campaign as it was: the same day's sync does
    # not ask again; the next day's does, once per active or paused campaign.
    active = db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'"
        " AND id IN (SELECT campaign_id FROM bison_campaign_schedules)",
        [wid],
    )
    client = BisonClient(factory("x").base_url, fake.token_for(bid), rate_per_sec=None)
    client.set_campaign_schedule(
        int(active), days=["saturday"], start_time="10:00", end_time="12:00", timezone="UTC"
    )
    client.close()
    fake.reset_requests()
    bison_sync.sync_bison(db, client_factory=factory, today=today)
    assert fake.count_requests(path=f"/api/campaigns/{active}/schedule") == 0
    assert stored()[active][0] != ["saturday"]
    fake.reset_requests()
    result = bison_sync.sync_bison(db, client_factory=factory, today=today + dt.timedelta(days=1))
    assert result["failed"] == [], result
    assert stored()[active] == (["saturday"], "10:00:00", "12:00:00", "UTC")
    scheduled = db.scalar(
        "SELECT count(*) FROM bison_campaigns WHERE status IN ('active', 'paused')"
    )
    asked = [r.path for r in fake.requests if r.path.endswith("/schedule")]
    assert len(asked) == len(set(asked)) == scheduled
    fake.reset_requests()
    bison_sync.sync_bison(db, client_factory=factory, today=today + dt.timedelta(days=1))
    assert not [r.path for r in fake.requests if r.path.endswith("/schedule")]


def test_changes_are_picked_up_incrementally(setup):
    db, fake, ids, factory = setup
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    bid, wid = fake.workspace_ids[0], ids[0]
    client = BisonClient(fake_url := factory("x").base_url, fake.token_for(bid), rate_per_sec=None)  # noqa: F841
    reply_id = db.scalar(
        "SELECT min(id) FROM bison_replies WHERE workspace_id = ? AND NOT interested", [wid]
    )
    client.mark_interested(int(reply_id))
    campaign_id = db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'", [wid]
    )
    if campaign_id:
        client.pause_campaign(int(campaign_id))
    client.close()
    fake.reset_requests()
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    assert db.scalar(
        "SELECT interested FROM bison_replies WHERE workspace_id = ? AND id = ?", [wid, reply_id]
    )
    if campaign_id:
        assert (
            db.scalar(
                "SELECT status FROM bison_campaigns WHERE workspace_id = ? AND id = ?",
                [wid, campaign_id],
            )
            == "paused"
        )


def test_a_sync_killed_half_way_and_run_again_has_no_duplicates_and_misses_nothing(setup):
    db, fake, ids, factory = setup
    calls = {"n": 0}

    class Dying(BisonClient):
        def iter_lead_items(self, **kw):
            for i, lead in enumerate(super().iter_lead_items(**kw)):
                if i == 40:
                    raise ConnectionError("killed")
                yield lead

    def dying_factory(token):
        calls["n"] += 1
        return Dying(factory("x").base_url, token, rate_per_sec=None, sleep=lambda s: None)

    result = bison_sync.sync_bison(db, client_factory=dying_factory, today=fake.state.today)
    assert len(result["failed"]) == 2
    assert db.scalar("SELECT count(*) FROM bison_leads") == 0  # the half-read leads never landed
    assert (
        db.scalar(
            "SELECT count(*) FROM sync_runs WHERE status = 'failed' AND error LIKE '%killed%'"
        )
        == 2
    )
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    reference = snapshot(db)
    for wid, bid in zip(ids, fake.workspace_ids, strict=True):
        assert (
            db.scalar("SELECT count(*) FROM bison_leads WHERE workspace_id = ?", [wid])
            == fake_counts(fake, bid)["leads"]
        )
        assert (
            db.scalar(
                "SELECT count(*) - count(DISTINCT id) FROM bison_replies WHERE workspace_id = ?",
                [wid],
            )
            == 0
        )
    bison_sync.sync_bison(db, client_factory=factory, full=True, today=fake.state.today)
    assert snapshot(db)["bison_leads"] == reference["bison_leads"]


def test_tokens_never_reach_logs_or_the_database(setup, caplog):
    db, fake, ids, factory = setup
    caplog.set_level(logging.DEBUG)
    fake.fail_next(2, status=503)
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    tokens = [fake.token_for(b) for b in fake.workspace_ids]
    for token in tokens:
        assert token not in caplog.text
        assert token.split("|")[1] not in caplog.text
    db.execute("CHECKPOINT")
    raw = db.path.read_bytes()
    for token in tokens:
        assert token.split("|")[1].encode() not in raw


def test_missing_token_and_bad_token_are_reported_per_client(setup):
    db, fake, ids, factory = setup
    secrets.delete_secret(db, secrets.bison_token_name(ids[1]), actor="t")
    secrets.set_secret(
        db, secrets.bison_token_name(ids[0]), "999|wrongtokenvalue", kind="bison_token", actor="t"
    )
    result = bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    assert any("no Email Bison token" in s for s in result["skipped"])
    ((name, r),) = result["workspaces"].items()
    assert r["status"] == "failed" and "wrongtokenvalue" not in (r["error"] or "")
    with pytest.raises(bison_sync.SyncError, match="no Email Bison token"):
        bison_sync.sync_bison(db, workspace_ids=[ids[1]], client_factory=factory)


def test_workspaces_sync_concurrently_with_a_bound(setup):
    db, fake, ids, factory = setup
    fake.delay = 0.02
    result = bison_sync.sync_bison(
        db, client_factory=factory, concurrency=2, today=fake.state.today
    )
    assert result["failed"] == []
    status = sync_status.last_sync_per_workspace(db, Scope.all())
    assert status["last_status"].to_list() == ["succeeded", "succeeded"]
    assert dt.datetime.now(dt.UTC) - status["last_success"].max() < dt.timedelta(minutes=5)
    assert all(t.startswith("…") and len(t) == 5 for t in status["token"].to_list())
    history = sync_status.run_history(db, Scope.all())
    assert history.height == 2 and all(
        "campaigns " in c and "daily rows " in c and " · " in c for c in history["counts"]
    )


def test_run_counts_read_as_text():
    from core.platform.sync_status import describe_counts

    assert describe_counts('{"campaigns": 1000, "daily_rows": 68780}') == (
        "campaigns 1,000 · daily rows 68,780"
    )
    assert describe_counts("{}") == "" and describe_counts(None) is None
    assert describe_counts("not json") == "not json" and describe_counts("[1]") == "[1]"


def test_campaign_actions_and_scheduled_emails_go_through_email_bison(setup):
    from core.accounts import access
    from core.campaigns import campaigns

    db, fake, ids, factory = setup
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    wid = ids[0]
    cid = db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'", [wid]
    )
    # leads left to contact, so the resume preflight (enforced in core) lets it through
    db.execute("UPDATE bison_campaigns SET total_leads_contacted = 0 WHERE id = ?", [cid])
    ops = access.User("ops@agency.com", "operator")
    row = campaigns.campaign_action(db, ops, wid, cid, "pause", client_factory=factory)
    assert row["status"] == "paused"
    assert (
        db.scalar(
            "SELECT status FROM bison_campaigns WHERE workspace_id = ? AND id = ?", [wid, cid]
        )
        == "paused"
    )
    assert (
        campaigns.campaign_action(db, ops, wid, cid, "resume", client_factory=factory)["status"]
        == "active"
    )
    log = db.query("SELECT actor, action FROM audit_log WHERE entity = 'campaign' ORDER BY id")
    assert log.rows() == [
        ("ops@agency.com", "campaign.pause"),
        ("ops@agency.com", "campaign.resume"),
    ]
    sched = campaigns.scheduled_emails(db, ops, wid, cid, client_factory=factory, limit=25)
    assert 0 < sched.height <= 25 and sched["status"].null_count() == 0


def test_a_schedule_changed_from_the_page_goes_to_email_bison_and_is_audited(setup):
    from core.accounts import access
    from core.campaigns import campaigns

    db, fake, ids, factory = setup
    bison_sync.sync_bison(db, client_factory=factory, today=fake.state.today)
    wid, bid = ids[0], fake.workspace_ids[0]
    cid = db.scalar(
        "SELECT min(id) FROM bison_campaigns WHERE workspace_id = ? AND status = 'active'", [wid]
    )
    ops = access.User("ops@agency.com", "operator")
    before = campaigns.campaign_schedule(db, ops.scope, wid, cid)
    assert campaigns.describe_schedule(before) == "Mon–Fri, 08:00–17:00 America/Chicago"
    saved = campaigns.set_campaign_schedule(
        db, ops, wid, cid, days=["monday", "wednesday", "friday"], start_time=dt.time(9),
        end_time=dt.time(15, 30), timezone="America/Denver", client_factory=factory,
    )  # fmt: skip
    assert campaigns.describe_schedule(saved) == "Mon, Wed, Fri, 09:00–15:30 America/Denver"
    in_bison = fake.workspace(bid).schedules[cid]
    assert [d for d in WEEK if in_bison[d]] == ["monday", "wednesday", "friday"]
    assert (in_bison["start_time"], in_bison["timezone"]) == ("09:00", "America/Denver")
    entry = db.query(
        "SELECT actor, before, after FROM audit_log WHERE action = 'campaign.schedule'"
    ).row(0, named=True)
    assert entry["actor"] == "ops@agency.com" and "Mon–Fri" in entry["before"]
    assert "Mon, Wed, Fri" in entry["after"]
    # refused before any request: no day, a window that ends first, an unknown zone
    fake.reset_requests()
    for bad, message in (
        ({"days": []}, "at least one"),
        ({"end_time": dt.time(8)}, "end after it starts"),
        ({"timezone": "Mars/Base"}, "Unknown time zone"),
    ):
        args = {"days": ["monday"], "start_time": dt.time(9), "end_time": dt.time(17),
                "timezone": "UTC"} | bad  # fmt: skip
        with pytest.raises(campaigns.CampaignActionError, match=message):
            campaigns.set_campaign_schedule(db, ops, wid, cid, client_factory=factory, **args)
    assert fake.request_count == 0
    viewer = access.User("v@agency.com", "viewer")
    with pytest.raises(access.PermissionDenied):
        campaigns.set_campaign_schedule(
            db, viewer, wid, cid, days=["monday"], start_time=dt.time(9), end_time=dt.time(17),
            timezone="UTC", client_factory=factory,
        )  # fmt: skip
    assert campaigns.describe_schedule({"days": [d for d in WEEK], "start_time": dt.time(0),
                                         "end_time": dt.time(23, 30), "timezone": "UTC"}
                                       ).startswith("Mon–Sun")  # fmt: skip
    assert campaigns.describe_schedule({"days": ["saturday", "sunday"], "start_time": dt.time(9),
                                         "end_time": dt.time(12), "timezone": "UTC"}
                                       ).startswith("Sat, Sun,")  # fmt: skip
    assert "will not send" in campaigns.describe_schedule(
        {"days": [], "start_time": dt.time(9), "end_time": dt.time(12), "timezone": "UTC"}
    )
