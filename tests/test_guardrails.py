"""Each guardrail check on crafted data: at, just below and just above its threshold."""

from __future__ import annotations

import datetime as dt

import pytest

from core.accounts import access
from core.campaigns import preflight
from core.guardrails import alerts as guardrails
from core.platform import settings
from core.platform.scope import Scope

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday
TODAY = NOW.date()
ADMIN = access.User("admin@agency.com", "admin")


def add_client(db, wid: int, *, tier: str = "100", target: int = 100, email: str | None = None):
    db.execute(
        "INSERT INTO workspaces (id, name, tier, monthly_target, contact_email) VALUES (?, ?, ?, ?, ?)",
        [wid, f"Client {wid}", tier, target, email],
    )


def add_campaign(db, wid, cid, *, status="active", leads=1000, contacted=0, created=None):
    db.execute(
        "INSERT INTO bison_campaigns (workspace_id, id, name, status, total_leads, total_leads_contacted,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            wid,
            cid,
            f"Campaign {cid}",
            status,
            leads,
            contacted,
            created or NOW - dt.timedelta(days=60),
        ],
    )


def add_daily(db, wid, cid, day, sent, bounced=0, unsubscribed=0, replies=0):
    db.execute(
        "INSERT INTO bison_campaign_daily (workspace_id, campaign_id, day, sent, bounced, unsubscribed, replies)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [wid, cid, day, sent, bounced, unsubscribed, replies],
    )


def add_step(db, wid, cid, sid, order=1, active=True):
    db.execute(
        "INSERT INTO bison_sequence_steps (workspace_id, id, campaign_id, step_order, email_subject, active)"
        " VALUES (?, ?, ?, ?, 'Your renewal', ?)",
        [wid, sid, cid, order, active],
    )


def add_sender(db, wid, sid, *, status="connected", sent=0, bounced=0, unsub=0, campaigns=()):
    db.execute(
        "INSERT INTO bison_sender_emails (workspace_id, id, email, status, daily_limit, emails_sent_count,"
        " bounced_count, unsubscribed_count, created_at) VALUES (?, ?, ?, ?, 30, ?, ?, ?, ?)",
        [
            wid,
            sid,
            f"rep{sid}@mail{wid}.com",
            status,
            sent,
            bounced,
            unsub,
            NOW - dt.timedelta(days=90),
        ],
    )
    for cid in campaigns:
        db.execute("INSERT INTO bison_campaign_sender_emails VALUES (?, ?, ?)", [wid, cid, sid])


def found(db, check, now=NOW):
    df, ran, errors = guardrails.compute_findings(db, now, only=[check])
    assert not errors and ran == [check], errors
    return df


def subjects(df) -> set:
    return set(df["subject_id"].to_list())


@pytest.mark.parametrize("metric", ["bounced", "unsubscribed"])
def test_campaign_rate_at_below_above_threshold_and_minimum_sends(empty_db, metric):
    db = empty_db
    check = "campaign_bounce_rate" if metric == "bounced" else "campaign_unsubscribe_rate"
    rate_setting = "guard_bounce_rate" if metric == "bounced" else "guard_unsubscribe_rate"
    settings.set_value(db, rate_setting, 0.03, actor="t")  # min sends stays 200, window 7 days
    add_client(db, 1)
    cases = {
        101: (200, 6),  # exactly 3.00 %: not above
        102: (200, 7),  # 3.50 %: fires
        103: (199, 50),  # high, but one send short of the minimum sample
        104: (400, 11),  # 2.75 %: below
        105: (200, 7),  # fires only when old days are (wrongly) counted: see below
    }
    for cid, (sent, n) in cases.items():
        add_campaign(db, 1, cid)
        kw = {metric: n}
        if cid == 105:  # the bad day is 8 days back, outside the 7-day window
            add_daily(db, 1, cid, TODAY - dt.timedelta(days=7), sent, **kw)
            add_daily(db, 1, cid, TODAY - dt.timedelta(days=1), 300)
        else:
            add_daily(db, 1, cid, TODAY - dt.timedelta(days=2), sent // 2, **{metric: n // 2})
            add_daily(
                db, 1, cid, TODAY - dt.timedelta(days=1), sent - sent // 2, **{metric: n - n // 2}
            )
    df = found(db, check)
    assert subjects(df) == {"102"}
    row = df.row(0, named=True)
    assert row["metric"] == pytest.approx(0.035) and row["threshold"] == 0.03
    assert "7 of 200 emails sent in the last 7 days" in row["explanation"]
    # the minimum sample is a threshold too: at 199 the 50/199 campaign may fire
    settings.set_value(db, "guard_rate_min_sends", 199, actor="t")
    assert subjects(found(db, check)) == {"102", "103"}


def test_per_client_override_changes_only_that_client(empty_db):
    db = empty_db
    for wid in (1, 2):
        add_client(db, wid)
        add_campaign(db, wid, 100 + wid)
        add_daily(db, wid, 100 + wid, TODAY - dt.timedelta(days=1), 1000, bounced=25)  # 2.5 %
    assert found(db, "campaign_bounce_rate").height == 0
    guardrails.set_override(db, ADMIN, 2, "guard_bounce_rate", "0.02")
    df = found(db, "campaign_bounce_rate")
    assert df["workspace_id"].to_list() == [2] and df["threshold"][0] == 0.02
    with pytest.raises(guardrails.GuardrailError, match="not a guardrail threshold"):
        guardrails.set_override(db, ADMIN, 2, "display_timezone", "UTC")
    with pytest.raises(settings.SettingError, match="at most"):
        guardrails.set_override(db, ADMIN, 2, "guard_bounce_rate", 2)
    with pytest.raises(access.PermissionDenied):
        guardrails.set_override(db, access.User("v@a.com", "viewer"), 2, "guard_bounce_rate", 0.1)
    guardrails.set_override(db, ADMIN, 2, "guard_bounce_rate", None)  # back to the default
    assert found(db, "campaign_bounce_rate").height == 0
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'guardrail.override'") == 2


def test_sender_rates_use_the_snapshot_window(empty_db):
    db = empty_db
    add_client(db, 1)
    # lifetime counters; snapshot from 3 days ago marks the start of the window
    accounts = {
        201: (10_000, 100, 10_200, 106),  # +200 sent, +6 bounced: 3.00 %, not above
        202: (10_000, 100, 10_200, 107),  # +7: fires
        203: (10_000, 100, 10_199, 150),  # 199 sent in the window: below the minimum
        204: (10_000, 900, 10_400, 910),  # lifetime rate high, window rate 2.5 %
    }
    for sid, (sent0, b0, sent1, b1) in accounts.items():
        add_sender(db, 1, sid, sent=sent1, bounced=b1)
        db.execute(
            "INSERT INTO sender_email_snapshots VALUES (1, ?, ?, ?, ?, 0)",
            [sid, TODAY - dt.timedelta(days=3), sent0, b0],
        )
    df = found(db, "sender_bounce_rate")
    assert subjects(df) == {"202"}
    assert "7 of 200 emails sent since Nov 20" in df["explanation"][0]
    # with no snapshot in the window the lifetime counters are used, and said so
    add_sender(db, 1, 205, sent=1000, bounced=40)
    df = found(db, "sender_bounce_rate")
    assert subjects(df) == {"202", "205"}
    assert "over the account's life" in df.filter(df["subject_id"] == "205")["explanation"][0]


def test_campaign_not_sending_hours_and_reasons(empty_db):
    db = empty_db
    add_client(db, 1)
    # 301 sent last on Nov 22: idle from Nov 23 00:00
    for cid in (301, 302, 303, 304, 305, 306):
        add_campaign(db, 1, cid, leads=500, contacted=100 if cid != 305 else 500)
        add_daily(db, 1, cid, TODAY - dt.timedelta(days=1), 50)
        if cid != 302:
            add_step(db, 1, cid, 3000 + cid)
    add_sender(db, 1, 1, campaigns=(301, 305, 306))
    add_sender(db, 1, 2, status="disconnected", campaigns=(303,))
    db.execute(
        "INSERT INTO bison_campaign_schedules VALUES (1, 306, ['monday'], '09:00', '10:00',"
        " 'America/New_York', now())"
    )
    # a weekend-only campaign that sent on Sunday is not idle on Monday: days its schedule does
    # not send on do not count
    add_campaign(db, 1, 308, leads=500, contacted=100)
    add_daily(db, 1, 308, TODAY - dt.timedelta(days=1), 50)
    add_step(db, 1, 308, 3308)
    add_sender(db, 1, 3, campaigns=(308,))
    db.execute(
        "INSERT INTO bison_campaign_schedules VALUES (1, 308, ['saturday', 'sunday'], '09:00', '17:00',"
        " 'America/New_York', now())"
    )
    at = dt.datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 23 hours idle
    assert found(db, "campaign_not_sending", at).height == 0
    at = dt.datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # exactly 24 hours: fires
    df = found(db, "campaign_not_sending", at)
    assert subjects(df) == {"301", "302", "303", "304", "305", "306"}
    reasons = dict(zip(df["subject_id"], df["explanation"], strict=True))
    assert "Reason found: none in the synced data" in reasons["301"]
    assert "no sequence" in reasons["302"]
    assert "all 1 attached sending accounts are disconnected" in reasons["303"]
    assert "no sending accounts attached" in reasons["304"]
    assert "no leads left" in reasons["305"]
    assert "schedule window is closed (monday 09:00–10:00" in reasons["306"]
    assert "last send was on Sun Nov 22" in reasons["301"]
    # a paused campaign is not "not sending"; a fresh one gets its N hours first
    db.execute("UPDATE bison_campaigns SET status = 'paused' WHERE id <> 301")
    add_campaign(db, 1, 307, created=at - dt.timedelta(hours=23))
    assert subjects(found(db, "campaign_not_sending", at)) == {"301"}


def test_leads_running_out_at_pace(empty_db):
    db = empty_db
    add_client(db, 1)
    add_campaign(db, 1, 401, leads=1700, contacted=1000)  # 700 uncontacted
    add_step(db, 1, 401, 4001, order=1)
    add_step(db, 1, 401, 4002, order=2)
    # 100 new leads a day (step 1) over the last 7 complete days, plus follow-ups that do not
    # count, and today's partial day, which does not count either
    db.execute(
        "INSERT INTO bison_step_stats (workspace_id, campaign_id, step_id, day, sent) VALUES"
        " (1, 401, 4001, ?, 40)",
        [TODAY],
    )
    for k in range(1, 8):
        day = TODAY - dt.timedelta(days=k)
        db.execute(
            "INSERT INTO bison_step_stats (workspace_id, campaign_id, step_id, day, sent) VALUES"
            " (1, 401, 4001, ?, 100), (1, 401, 4002, ?, 90)",
            [day, day],
        )
    assert found(db, "leads_running_out").height == 0  # exactly 7.0 days: not under 7
    db.execute("UPDATE bison_campaigns SET total_leads = 1699")
    df = found(db, "leads_running_out")
    assert df.height == 1 and df["metric"][0] == pytest.approx(6.99)
    assert (
        "699 uncontacted leads" in df["explanation"][0]
        and "100 new leads a day" in df["explanation"][0]
    )
    db.execute("UPDATE bison_campaigns SET total_leads = 1701")
    assert found(db, "leads_running_out").height == 0
    db.execute("UPDATE bison_campaigns SET total_leads = 1000")
    df = found(db, "leads_running_out")
    assert df["severity"][0] == "danger" and df["title"][0] == "No uncontacted leads left"


def test_renewal_batch_due_by_its_monday(empty_db):
    db = empty_db
    for wid in (1, 2, 3, 4):
        add_client(db, wid)
    # renewals Jan 1-7 mail from about Dec 2 (30 days before); that week's Monday is Nov 30
    for wid, status in ((2, "pending"), (3, "uploaded"), (4, "failed")):
        db.execute(
            "INSERT INTO batches (workspace_id, campaign_month, renewal_month, window_start, window_end, name,"
            " status, error) VALUES (?, '2026-12-01', '2027-01-01', '2027-01-01', '2027-01-07',"
            " 'January 1st–7th renewals', ?, ?)",
            [wid, status, "HTTP 422" if status == "failed" else None],
        )
    sat = dt.datetime(2026, 11, 28, 12, tzinfo=UTC)  # two days before: inside the notice
    df = found(db, "renewal_batch_late", sat)
    assert sorted(df["workspace_id"].to_list()) == [1, 2, 4]
    assert set(df["severity"]) == {"warning"}
    assert "no batch has been cut" in df.filter(df["workspace_id"] == 1)["explanation"][0]
    assert "upload failed: HTTP 422" in df.filter(df["workspace_id"] == 4)["explanation"][0]
    fri = dt.datetime(2026, 11, 27, 12, tzinfo=UTC)  # three days before: not yet
    assert found(db, "renewal_batch_late", fri).height == 0
    mon = dt.datetime(2026, 11, 30, 9, tzinfo=UTC)  # its Monday: danger
    df = found(db, "renewal_batch_late", mon)
    assert set(df["severity"]) == {"danger"} and "by its Monday" in df["title"][0]


def test_kpi_pacing_uses_the_overview_line(empty_db):
    db = empty_db
    at = dt.datetime(2026, 11, 15, 20, tzinfo=UTC)  # half of November: expected 50 of 100
    for wid, interested in ((1, 45), (2, 44), (3, 34), (4, 35)):
        add_client(db, wid)
        db.execute(
            "INSERT INTO bison_replies (workspace_id, id, lead_id, interested, date_received)"
            " SELECT ?, ? * 1000 + i, ? * 1000 + i, true, TIMESTAMPTZ '2026-11-10 12:00+00'"
            " FROM range(?) t(i)",
            [wid, wid, wid, interested],
        )
    df = found(db, "kpi_pacing", at)
    sev = dict(zip(df["workspace_id"], df["severity"], strict=True))
    assert sev == {2: "warning", 3: "danger", 4: "warning"}  # 45 = 90 % of 50 is on the line
    assert (
        "44 interested replies this month against 50.0 expected"
        in df.filter(df["workspace_id"] == 2)["explanation"][0]
    )
    # no pacing alerts in the month's first days (a handful of replies decides the ratio)
    third = dt.datetime(2026, 11, 3, 20, tzinfo=UTC)
    assert found(db, "kpi_pacing", third).height == 0
    assert found(db, "kpi_pacing", third + dt.timedelta(days=1)).height > 0


def test_sending_accounts_checks(empty_db):
    db = empty_db
    add_client(db, 1)
    add_campaign(db, 1, 501)
    add_campaign(db, 1, 502, status="paused")
    add_sender(db, 1, 1, status="disconnected", campaigns=(501,))
    add_sender(db, 1, 2, status="disconnected", campaigns=(502,))
    add_sender(db, 1, 3, sent=500, campaigns=(501,))  # sent nothing since 7 days ago
    add_sender(db, 1, 4, sent=520, campaigns=(501,))  # sent since then
    add_sender(db, 1, 5, sent=0)  # attached to nothing
    for sid, n in ((3, 500), (4, 500)):
        db.execute(
            "INSERT INTO sender_email_snapshots VALUES (1, ?, ?, ?, 0, 0)",
            [sid, TODAY - dt.timedelta(days=7), n],
        )
    assert subjects(found(db, "sender_disconnected_in_use")) == {"1"}
    df = found(db, "sender_unused")
    assert subjects(df) == {"3", "5"}
    assert "sent nothing since Nov 16" in df.filter(df["subject_id"] == "3")["explanation"][0]
    settings.set_value(db, "guard_sender_unused_days", 8, actor="t")  # the snapshot is too recent
    assert subjects(found(db, "sender_unused")) == {"5"}


def test_sending_below_plan(empty_db):
    db = empty_db
    add_client(db, 1)  # tier 100: 1,750 a day; limit 50 % = 875 a day = 6,125 a week
    add_campaign(db, 1, 601)
    add_daily(db, 1, 601, TODAY - dt.timedelta(days=1), 6125)
    assert found(db, "sending_below_plan").height == 0
    db.execute("UPDATE bison_campaign_daily SET sent = 6124")
    df = found(db, "sending_below_plan")
    assert df.height == 1 and "plan of 1750" in df["explanation"][0]
    assert "over the last 7 days (Nov 16–22)" in df["explanation"][0]
    add_daily(db, 1, 601, TODAY, 5000)  # today is still sending: not in the window
    assert found(db, "sending_below_plan").height == 1
    db.execute("DELETE FROM bison_campaign_daily WHERE day = ?", [TODAY])
    db.execute("UPDATE bison_campaign_daily SET sent = 6126")
    assert found(db, "sending_below_plan").height == 0


def test_data_freshness_checks(empty_db):
    db = empty_db
    for wid in (1, 2, 3):
        add_client(db, wid)
    six = NOW - dt.timedelta(hours=6)
    db.execute(
        "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status, error) VALUES"
        " ('bison', 1, ?, ?, 'succeeded', NULL), ('bison', 2, ?, ?, 'succeeded', NULL),"
        " ('bison', 3, ?, ?, 'failed', 'HTTP 401 bad token')",
        [six, six, six - dt.timedelta(minutes=1), six - dt.timedelta(minutes=1), six, six],
    )
    db.execute(  # an agency-wide source (no client) is checked against the default
        "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status) VALUES"
        " ('stripe', NULL, ?, ?, 'succeeded')",
        [NOW - dt.timedelta(hours=7), NOW - dt.timedelta(hours=7)],
    )
    df = found(db, "sync_stale")
    assert sorted(df["workspace_id"].to_list(), key=str) == [2, 3, None]  # 6 h is still fresh
    assert "stripe data is 7 hours old" in df.filter(df["workspace_id"].is_null())["title"][0]
    assert "HTTP 401 bad token" in df.filter(df["workspace_id"] == 3)["explanation"][0]
    # interested in campaigns vs replies: 5 apart is allowed, 6 is not
    add_campaign(db, 1, 701)
    db.execute("UPDATE bison_campaigns SET interested = 15")
    db.execute(
        "INSERT INTO bison_replies (workspace_id, id, lead_id, interested, date_received)"
        " SELECT 1, i, i, true, TIMESTAMPTZ '2026-11-10 12:00+00' FROM range(10) t(i)"
    )
    assert found(db, "interested_mismatch").height == 0
    db.execute("UPDATE bison_campaigns SET interested = 16")
    df = found(db, "interested_mismatch")
    assert (
        df.height == 1
        and "count 16 interested replies, the synced replies give 10" in df["explanation"][0]
    )


def test_preflight_items(empty_db):
    db = empty_db
    add_client(db, 1)
    add_campaign(db, 1, 801, leads=100, contacted=40)
    items = preflight.preflight(db, Scope.all(), 1, 801)
    assert [i.name for i in preflight.blocking_failures(items)] == [
        "Sequence",
        "Sending accounts attached",
        "Sending accounts connected",
    ]
    add_step(db, 1, 801, 8001)
    add_sender(db, 1, 9, status="disconnected", campaigns=(801,))
    items = preflight.preflight(db, Scope.all(), 1, 801)
    assert [i.name for i in preflight.blocking_failures(items)] == ["Sending accounts connected"]
    db.execute("UPDATE bison_sender_emails SET status = 'connected'")
    items = {i.name: i for i in preflight.preflight(db, Scope.all(), 1, 801)}
    assert all(i.ok for n, i in items.items() if n != "Schedule")
    assert items["Schedule"].ok is None and not items["Schedule"].blocking
    assert "60 not yet contacted" in items["Leads attached"].detail
    assert preflight.preflight(db, Scope.only([2]), 1, 801)[0].ok is False
