"""The Campaigns page: rates over a window of complete days (lifetime as an option), and the
sequence with its email bodies."""

from __future__ import annotations

import datetime as dt

import pytest

from core.campaigns import campaigns, periods
from core.platform.scope import Scope
from tests.test_pages import run_page

PAGE = "pages/campaigns.py"


def test_complete_days_and_labels():
    today = dt.date(2026, 12, 7)
    assert periods.complete_days(today) == (dt.date(2026, 11, 7), dt.date(2026, 12, 6))
    assert periods.complete_days(today, 1) == (dt.date(2026, 12, 6), dt.date(2026, 12, 6))
    with pytest.raises(ValueError, match="at least one day"):
        periods.complete_days(today, 0)
    assert periods.window_label(dt.date(2026, 11, 7), dt.date(2026, 12, 6)) == "Nov 7 – Dec 6"
    assert periods.window_label(dt.date(2025, 12, 20), dt.date(2026, 1, 3)) == (
        "Dec 20, 2025 – Jan 3, 2026"
    )
    assert periods.window_label(dt.date(2026, 12, 6), dt.date(2026, 12, 6)) == "Dec 6"


def test_campaign_rates_over_a_window_match_the_daily_stats(demo_db):
    start, end = periods.complete_days(dt.date(2026, 12, 7))
    rates = periods.campaign_rates(demo_db, Scope.all(), start, end)
    assert rates.height == demo_db.scalar("SELECT count(*) FROM bison_campaigns")
    want = dict(
        ((w, c), (s, r, b))
        for w, c, s, r, b in demo_db.rows(
            "SELECT workspace_id, campaign_id, sum(sent), sum(replies), sum(bounced)"
            " FROM bison_campaign_daily WHERE day BETWEEN ? AND ? GROUP BY ALL",
            [start, end],
        )
    )
    for row in rates.iter_rows(named=True):
        sent, replies, bounced = want.get((row["workspace_id"], row["id"]), (0, 0, 0))
        assert (row["sent"], row["replies"], row["bounced"]) == (sent, replies, bounced)
        if sent:
            assert row["reply_rate"] == pytest.approx(replies / sent, abs=5e-5)
            assert row["bounce_rate"] == pytest.approx(bounced / sent, abs=5e-5)
        else:
            assert row["reply_rate"] is None
    with pytest.raises(ValueError, match="before it starts"):
        periods.campaign_rates(demo_db, Scope.all(), end, start)
    wid = demo_db.scalar("SELECT min(workspace_id) FROM bison_campaigns")
    assert set(periods.campaign_rates(demo_db, Scope.only([wid]), start, end)["workspace_id"]) == {
        wid
    }
    # a list of campaigns keeps its rows and columns, with the window's counts
    table = campaigns.list_campaigns(demo_db, Scope.all())
    windowed = periods.with_window(table, rates)
    assert windowed.columns == table.columns
    assert windowed.select("workspace_id", "id").rows() == table.select("workspace_id", "id").rows()
    assert windowed["sent"].sum() == sum(s for s, _, _ in want.values())
    assert windowed["leads"].to_list() == table["leads"].to_list()  # lifetime stays lifetime


def test_page_shows_the_window_and_lifetime(demo_db):
    from pages import ui

    at = run_page(PAGE)
    start, end = periods.complete_days(ui.today())
    label = periods.window_label(start, end)
    metrics = {m.label: m.value for m in at.metric}
    sent = demo_db.scalar(
        "SELECT coalesce(sum(sent), 0) FROM bison_campaign_daily WHERE day BETWEEN ? AND ?",
        [start, end],
    )
    assert metrics[f"Emails sent ({label})"] == f"{sent:,}"
    assert f"Reply rate ({label})" in metrics and f"Bounce rate ({label})" in metrics
    shown = at.dataframe[0].value
    assert list(shown.columns)[:4] == ["client", "campaign", "status", "sent"]
    assert set(shown["status"]) <= {"Active", "Paused", "Completed", "Draft", "Stopped"}
    at.selectbox(key="camp-window").set_value(0).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    lifetime = demo_db.scalar("SELECT sum(emails_sent) FROM bison_campaigns")
    assert metrics["Emails sent (lifetime)"] == f"{lifetime:,}"
    assert not [c for c in at.caption if "leadops" in c.value.lower()]


def test_sequence_has_the_email_body(demo_db):
    wid, cid = demo_db.rows("SELECT workspace_id, id FROM bison_campaigns ORDER BY ALL LIMIT 1")[0]
    steps = campaigns.campaign_steps(demo_db, Scope.all(), wid, cid)
    bodies = dict(
        demo_db.rows(
            "SELECT id, email_body FROM bison_sequence_steps WHERE workspace_id = ? AND campaign_id = ?",
            [wid, cid],
        )
    )
    assert steps.columns[-1] == "body"
    assert {r["step_id"]: r["body"] for r in steps.iter_rows(named=True)} == bodies
