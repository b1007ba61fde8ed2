"""Every figure a page shows agrees with itself wherever it appears, and with the raw tables.

On the demo (as of `AS_OF`, a Monday): the figures are gathered through the core functions the
pages call, and from the rendered pages themselves (metric labels and values), then checked
against each other by name and against SQL written here over the raw tables (never the views or
helpers the code uses). The windows are the ones docs/figures.md names: "last 7 days" is the 7
complete days ending yesterday, "this month" the 1st through today.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core import overview
from core.guardrails import alerts
from core.pipeline import runs as pipeline_runs
from core.platform import periods, secrets, settings, sync_status
from core.platform.scope import Scope
from core.territories import geo, reports
from tests.conftest import AS_OF
from tests.test_pages import APP

ALL = Scope.all()
WEEK = (AS_OF - dt.timedelta(days=7), AS_OF - dt.timedelta(days=1))  # Nov 16–22
MONTH = (AS_OF.replace(day=1), AS_OF)


# -- independent SQL over the raw tables ------------------------------------------------------


def sql_sent(db, first, last, wid=None):
    cond = "" if wid is None else f" AND workspace_id = {int(wid)}"
    return int(
        db.scalar(
            f"SELECT coalesce(sum(sent), 0) FROM bison_campaign_daily WHERE day >= ? AND day <= ?{cond}",
            [first, last],
        )
    )


def sql_replies(db, first, last):
    return int(
        db.scalar(
            "SELECT coalesce(sum(replies), 0) FROM bison_campaign_daily WHERE day >= ? AND day <= ?",
            [first, last],
        )
    )


def sql_interested(db, first, last, wid=None):
    """Distinct people whose first interested (human, received) reply fell in [first, last]."""
    cond = "" if wid is None else f" AND workspace_id = {int(wid)}"
    return int(
        db.scalar(
            f"""
            SELECT count(*) FROM (
                SELECT workspace_id, coalesce(CAST(lead_id AS VARCHAR), lower(from_email)) AS who,
                       min(date_received) AS first_at
                FROM bison_replies
                WHERE interested AND NOT automated_reply AND coalesce(folder, 'Inbox') <> 'Sent'
                GROUP BY 1, 2)
            WHERE first_at >= ? AND first_at < ?{cond}
            """,
            [first, last + dt.timedelta(days=1)],
        )
    )


# -- the figures, by name, from the core functions the pages call ------------------------------


def test_overview_cards_and_board_equal_the_raw_tables(demo_db):
    db = demo_db
    k = overview.agency_kpis(db, ALL, AS_OF)
    assert k["week"]["sent"] == sql_sent(db, *WEEK) > 0
    assert k["week"]["replies"] == sql_replies(db, *WEEK) > 0
    prev = (AS_OF - dt.timedelta(days=14), AS_OF - dt.timedelta(days=8))
    assert k["prev_week"]["sent"] == sql_sent(db, *prev) > 0
    assert k["mtd"]["sent"] == sql_sent(db, *MONTH)
    assert k["mtd"]["interested"] == sql_interested(db, *MONTH) > 0
    assert k["target"]["monthly_target"] == db.scalar(
        "SELECT sum(monthly_target) FROM workspaces WHERE active"
    )

    board = overview.client_board(db, ALL, AS_OF)
    for r in board.iter_rows(named=True):
        wid = r["workspace_id"]
        per_day = sql_sent(db, *WEEK, wid=wid) / 7
        assert r["sent_per_day"] == round(per_day), r["client"]
        assert r["sending_vs_plan"] == pytest.approx(per_day / r["plan_per_day"], abs=5e-4)
        assert r["interested_mtd"] == sql_interested(db, *MONTH, wid=wid), r["client"]
    # one name, one value: the board's per-client interested add up to the card's
    assert board["interested_mtd"].sum() == k["mtd"]["interested"]
    # the card's "Sent, last 7 days" is the per-client figure behind "Sent/day"
    per_client = overview.sent_per_day(db, ALL, AS_OF)
    assert per_client["sent_7d"].sum() == k["week"]["sent"]


def test_sending_vs_plan_is_the_same_figure_in_the_alerts(demo_db):
    """The sending-below-plan check reads the Overview's own figure: every client flagged (the
    threshold raised to the whole plan) carries the board's sent/day and ratio."""
    db = demo_db
    settings.set_value(db, "guard_plan_use_ratio", 1.0, actor="test")
    now = dt.datetime.combine(AS_OF, dt.time(15), tzinfo=dt.UTC)
    found, ran, errors = alerts.compute_findings(db, now, only=["sending_below_plan"])
    assert ran == ["sending_below_plan"] and not errors
    board = overview.client_board(db, ALL, AS_OF)
    by_client = {r["workspace_id"]: r for r in board.iter_rows(named=True)}
    below = {w for w, r in by_client.items() if r["sending_vs_plan"] < 1.0}
    assert below and set(found["workspace_id"]) == below
    week = periods.last_7_days(AS_OF)
    exact = dict(
        overview.sent_per_day(db, ALL, AS_OF).select("workspace_id", "sent_per_day").iter_rows()
    )
    for f in found.iter_rows(named=True):
        b = by_client[f["workspace_id"]]
        per_day = exact[f["workspace_id"]]
        assert per_day == sql_sent(db, *WEEK, wid=f["workspace_id"]) / 7
        assert f["metric"] == pytest.approx(per_day / b["plan_per_day"], abs=1e-9)
        assert f["metric"] == pytest.approx(b["sending_vs_plan"], abs=5e-4)
        shown, _, rest = f["explanation"].partition(" emails a day over ")
        assert abs(float(shown) - per_day) <= 0.5 and abs(float(shown) - b["sent_per_day"]) <= 1
        assert rest.startswith(f"the last 7 days ({week.span})")


def test_funnel_replied_means_contacts_with_a_reply_and_uploaded_matches_stages(demo_db):
    db = demo_db
    first, last = AS_OF - dt.timedelta(days=120), AS_OF
    f = dict(overview.funnel(db, ALL, first, last).iter_rows())
    stages = dict(overview.contacts_by_stage(db, ALL, first, last).iter_rows())
    cohort = "imported_at >= ? AND imported_at < ?"
    span = [first, last + dt.timedelta(days=1)]
    assert f["raw"] == db.scalar(f"SELECT count(*) FROM contacts WHERE {cohort}", span)
    assert (
        f["uploaded"]
        == stages["uploaded"]
        == db.scalar(f"SELECT count(*) FROM contacts WHERE status = 'uploaded' AND {cohort}", span)
    )
    assert f["raw"] == sum(stages.values())
    replied = db.scalar(
        f"""SELECT count(DISTINCT c.id) FROM contacts c
            JOIN bison_leads l ON l.workspace_id = c.workspace_id AND l.contact_id = c.id
            JOIN bison_replies r ON r.workspace_id = l.workspace_id AND r.lead_id = l.id
            WHERE NOT r.automated_reply AND {cohort.replace("imported_at", "c.imported_at")}""",
        span,
    )
    assert f["replied"] == replied > 0
    # A contact gets a few emails; the share of uploaded contacts that replied is of the order of
    # the reply rate per email times the steps, not tens of percent.
    sent, replies = sql_sent(db, first, last), sql_replies(db, first, last)
    assert f["replied"] / f["uploaded"] < 5 * replies / sent
    assert f["interested"] <= f["replied"]


def test_one_runs_stage_counts_chain(demo_db):
    """Each stage's "in" is the previous stage's "out", even with contacts already waiting
    between stages from before the run (the demo's coming month has raw and filtered ones)."""
    db = demo_db
    month = db.scalar("SELECT max(renewal_month) FROM contacts WHERE status = 'raw'")
    wid = db.scalar(
        "SELECT workspace_id FROM contacts WHERE renewal_month = ? AND status = 'filtered'"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        [month],
    )
    waiting = db.scalar(
        "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
        " AND status IN ('filtered', 'verified', 'batched')",
        [wid, month],
    )
    assert waiting > 0
    run_id = pipeline_runs.create_run(db, wid, month, "filter", "test")
    with pytest.raises(pipeline_runs.PipelineError):  # no upload campaign: the upload refuses
        pipeline_runs.execute_run(db, run_id, None)
    st = {r["stage"]: r for r in pipeline_runs.stages(db, run_id).iter_rows(named=True)}
    assert st["filter"]["output_count"] == st["verify"]["input_count"]
    assert st["verify"]["output_count"] == st["batch"]["input_count"]
    assert json.loads(st["filter"]["counts"])["carried_in"] == waiting
    # verify processed what the filter passed and the filtered ones waiting; the verified and
    # batched ones it only carried along
    carried = json.loads(st["verify"]["counts"])["carried_in"]
    assert st["verify"]["input_count"] - carried == st["verify"]["done"]
    assert st["batch"]["status"] == "succeeded" and st["upload"]["status"] == "failed"


def test_a_source_is_synced_only_with_a_connection_and_a_real_sync(demo_db):
    db = demo_db
    per = sync_status.last_sync_per_workspace(db, ALL)
    # the demo has no tokens: every client is not connected, whatever runs the demo recorded
    assert (
        db.scalar("SELECT count(*) FROM sync_runs WHERE source = 'bison' AND status = 'succeeded'")
        > 0
    )
    assert (
        set(per["connection"]) == {"not connected"}
        and per["last_success"].null_count() == per.height
    )
    fresh = {r["source"]: r for r in overview.data_freshness(db).iter_rows(named=True)}
    assert fresh["bison"]["connected"] == 0 and fresh["bison"]["last_success"] is None
    assert fresh["stripe"]["connected"] == 0 and fresh["stripe"]["last_success"] is None
    assert sync_status.stripe_status(db)["text"].startswith("Stripe: not connected")
    # a token makes the client connected; the demo's seeded rows still are not a sync
    wid = int(per["workspace_id"][0])
    secrets.set_secret(
        db, secrets.bison_token_name(wid), "tok-figures-test-123456", kind="bison_token", actor="t"
    )
    row = (
        sync_status.last_sync_per_workspace(db, ALL)
        .filter(pl.col("workspace_id") == wid)
        .row(0, named=True)
    )
    assert (row["connection"], row["last_success"], row["last_status"]) == (
        "connected",
        None,
        "never synced",
    )
    done = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.UTC)
    db.execute(
        "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status, triggered_by)"
        " VALUES ('bison', ?, ?, ?, 'succeeded', 'schedule')",
        [wid, done - dt.timedelta(seconds=30), done],
    )
    row = (
        sync_status.last_sync_per_workspace(db, ALL)
        .filter(pl.col("workspace_id") == wid)
        .row(0, named=True)
    )
    assert row["last_success"] == done and row["last_status"] == "succeeded"
    fresh = {r["source"]: r for r in overview.data_freshness(db).iter_rows(named=True)}
    assert (fresh["bison"]["connected"], fresh["bison"]["last_success"]) == (1, done)


def test_the_stripe_status_has_one_definition(demo_db):
    from core.revenue import stripe_sync

    assert (sync_status.STRIPE_SECRET_KIND, sync_status.STRIPE_SECRET_NAME) == (
        stripe_sync.SECRET_KIND,
        stripe_sync.SECRET_NAME,
    )
    assert sync_status.stripe_configured(demo_db) == stripe_sync.configured(demo_db)


def test_the_demo_keeps_its_calendar(demo_db):
    db = demo_db
    stamp = db.scalar("SELECT max(finished_at) FROM sync_runs")
    # Mon–Fri schedules, and no email sent on a Saturday or Sunday
    days = db.rows("SELECT DISTINCT unnest(days) FROM bison_campaign_schedules")
    assert {d for (d,) in days} == {"monday", "tuesday", "wednesday", "thursday", "friday"}
    assert (
        db.scalar("SELECT coalesce(sum(sent), 0) FROM bison_campaign_daily WHERE isodow(day) >= 6")
        == 0
    )
    assert db.scalar("SELECT sum(sent) FROM bison_step_stats WHERE isodow(day) >= 6") is None
    # nothing dated after the demo's "today"
    for sql in (
        "SELECT max(imported_at) FROM contacts",
        "SELECT max(greatest(created_at, uploaded_at)) FROM batches",
        "SELECT max(date_received) FROM bison_replies",
        "SELECT max(finished_at) FROM pipeline_runs",
    ):
        assert db.scalar(sql) <= stamp, sql
    assert overview.activity_feed(db, ALL, 50)["happened_at"].max() <= stamp
    # on Monday afternoon, a Mon–Fri campaign that last sent on Friday is not idle
    monday = dt.datetime.combine(AS_OF, dt.time(15), tzinfo=dt.UTC)
    found, _, errors = alerts.compute_findings(db, monday, only=["campaign_not_sending"])
    assert not errors and found.height == 0


def test_zips_on_the_map_and_in_coverage_add_up(demo_db):
    db = demo_db
    drawn = geo.zip_table(db, ALL).height
    left_out = int(geo.unlocated_zips(db)["zips"].sum())
    total = int(reports.state_coverage(db, ALL)["total"].sum())
    assert left_out > 0 and drawn + left_out == total == db.scalar(
        "SELECT count(*) FROM us_zip_codes"
    )


# -- the figures as the pages show them --------------------------------------------------------


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _page(page: str, monkeypatch) -> AppTest:
    from pages import ui

    monkeypatch.setattr(ui, "today", lambda: AS_OF)  # the demo's today
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_pages_show_the_same_figures_under_the_same_names(demo_db, monkeypatch):
    db = demo_db
    ov = _metrics(_page("pages/overview.py", monkeypatch))
    assert ov["Sent, last 7 days"] == f"{sql_sent(db, *WEEK):,}"
    assert ov["Replies, last 7 days"] == f"{sql_replies(db, *WEEK):,}"
    interested = sql_interested(db, *MONTH)
    assert ov["Interested this month"] == f"{interested:,}"
    target = db.scalar("SELECT sum(monthly_target) FROM workspaces WHERE active")
    days = 30  # November
    assert ov["Pace to date"] == f"{interested / (target * AS_OF.day / days):.0%}"

    rev = _metrics(_page("pages/revenue.py", monkeypatch))
    shown = [v for k, v in rev.items() if k.startswith("Interested vs full-month target")]
    assert shown and shown[0].startswith(f"{interested:,} of {target:,}")

    footer = " ".join(c.value for c in _page("pages/data_sync.py", monkeypatch).caption)
    assert "Email Bison: not connected" in footer and "Stripe: not connected" in footer


# -- the document ------------------------------------------------------------------------------

PACKAGES = {"overview", "pipeline", "territories", "revenue", "campaigns", "guardrails", "replies"}
PACKAGES |= {"copylab", "periods", "sync_status"}


def _resolve(name: str):
    parts = name.split(".")
    if parts[0] in ("periods", "sync_status"):
        parts = ["platform", *parts]
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module("core." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(f"docs/figures.md names {name}, which is not in core")


def test_the_figures_document_names_core_functions_that_exist():
    text = (Path(__file__).resolve().parent.parent / "docs" / "figures.md").read_text()
    names = {
        n
        for n in re.findall(r"`([a-z_]+(?:\.[A-Za-z_0-9]+)+)`", text)
        if n.split(".")[0] in PACKAGES
    }
    assert len(names) > 20
    for name in sorted(names):
        assert _resolve(name) is not None, name
    # the windows it names are the ones the code uses
    from core.campaigns import periods as campaign_periods

    week = periods.last_7_days(AS_OF)
    assert campaign_periods.complete_days(AS_OF, 7) == (week.start, week.end)
