"""The month board: per-client counts, the four renewal batches with their upload state, this
Monday's evergreen, the gap and the recommended pull, worst first; the pull plan under the
source's row limit before Fill the gap runs (real PostgreSQL); the command line; the page."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core.pipeline import board, gap
from core.platform import settings, store
from core.platform.renewals import batch_name, renewal_windows
from core.platform.scope import Scope
from tests.test_pages import APP
from tests.test_pipeline import ws  # noqa: F401  (the two-client fixture)

MONTH = dt.date(2027, 3, 1)
TODAY = dt.date(2027, 2, 3)  # a Wednesday: this Monday + 28 days is March 1st


def contacts(db, wid, source, statuses: dict[str, int], batch_id=None):
    for status, n in statuses.items():
        for _ in range(n):
            db.execute(
                "INSERT INTO contacts (workspace_id, email, zip, renewal_month, status, source,"
                " batch_id) VALUES (?, 'x' || nextval('contacts_id_seq') || '@example.com',"
                " '75201', ?, ?, ?, ?)",
                [wid, MONTH, status, source, batch_id],
            )


def batch(db, wid, window, status, count, uploaded=0):
    start, end = renewal_windows(MONTH)[window]
    return db.scalar(
        "INSERT INTO batches (workspace_id, campaign_month, renewal_month, window_start, window_end,"
        " name, status, contact_count, uploaded_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        [
            wid,
            dt.date(2027, 2, 1),
            MONTH,
            start,
            end,
            batch_name(start, end),
            status,
            count,
            uploaded,
        ],
    )


@pytest.fixture
def month(ws):  # noqa: F811
    db = ws
    db.execute(
        "INSERT INTO package_tiers (tier, monthly_target, refined_contacts, emails_per_day)"
        " VALUES ('T', 5, 20, 100)"
    )
    db.execute("UPDATE workspaces SET tier = 'T'")
    # Acme: 10 from a file, 5 pulled; 13 refined; window 1 uploaded and attached to the evergreen
    # campaign this Monday, window 2 batched and waiting, window 3 empty, window 4 missing.
    w1 = batch(db, 1, 0, "uploaded", 9, 9)
    w2 = batch(db, 1, 1, "pending", 3)
    batch(db, 1, 2, "pending", 0)
    contacts(db, 1, "import", {"uploaded": 4}, w1)
    contacts(db, 1, "import", {"batched": 3}, w2)
    contacts(db, 1, "import", {"verified": 1, "invalid": 1, "rejected": 1})
    contacts(db, 1, "master_db", {"uploaded": 5}, w1)
    db.execute("INSERT INTO pipeline_settings (workspace_id, evergreen_campaign_id) VALUES (1, 77)")
    db.execute(
        "INSERT INTO evergreen_updates (workspace_id, batch_id, campaign_id, campaign_name, leads)"
        " VALUES (1, ?, 77, 'Evergreen', 9)",
        [w1],
    )
    # Lone Star: three raw contacts, nothing refined
    contacts(db, 2, "import", {"raw": 3})
    return db


def test_the_board_counts_batches_evergreen_gap_worst_first(month):
    df = board.month_board(month, Scope.all(), MONTH, today=TODAY)
    assert df["client"].to_list() == ["Lone Star HNW", "Acme Insurance"]  # 100 % missing first
    lone, acme = df.row(0, named=True), df.row(1, named=True)
    assert (acme["needed"], acme["imported"], acme["pulled"]) == (20, 10, 5)
    assert (acme["filtered"], acme["verified"], acme["gap"]) == (14, 13, 7)
    assert [acme[w] for w in board.WINDOWS] == [
        "9 · uploaded",
        "3 · not uploaded",
        "empty",
        "no batch",
    ]
    assert acme["batches_pending"] == 1 and acme["next_step"] == "Upload pending"
    assert acme["evergreen"] == "attached (March 1st–7th renewals)"
    # the Pipeline page's Gap to goal figure: with no master database the territory can supply
    # nothing more, so the uncapped pull is cut to 0
    margin = settings.get(month, "gap_safety_margin")
    uncapped = gap.gap_to_goal(month, 1, MONTH)["recommended_pull"]
    assert uncapped == math.ceil(7 / (0.8 * 0.9) * (1 + margin))
    assert acme["recommended_pull"] == gap.capped_plan(month, 1, MONTH)["recommended_pull"] == 0
    assert lone["next_step"] == "Run pipeline" and lone["evergreen"] == "no evergreen campaign"
    assert (lone["imported"], lone["filtered"], lone["verified"], lone["gap"]) == (3, 0, 0, 20)
    assert lone["w1"] == "no batch"
    # the evergreen batch not attached yet, then not uploaded
    month.execute("DELETE FROM evergreen_updates")
    row = board.month_board(month, Scope.all(), MONTH, today=TODAY).row(1, named=True)
    assert row["evergreen"] == "due: March 1st–7th renewals"
    month.execute(
        "UPDATE batches SET status = 'partially uploaded', uploaded_count = 4"
        " WHERE window_start = ?",
        [MONTH],
    )
    row = board.month_board(month, Scope.all(), MONTH, today=TODAY).row(1, named=True)
    assert row["evergreen"] == "waiting: March 1st–7th renewals not uploaded"
    assert row["w1"] == "9 · partly uploaded (4)" and row["batches_pending"] == 2
    # a client user sees their own row only
    assert board.month_board(month, Scope.only([2]), MONTH, today=TODAY)["client"].to_list() == [
        "Lone Star HNW"
    ]


def test_the_board_from_the_command_line(month):
    month.close()
    store.close_all()
    r = CliRunner().invoke(
        __import__("core.cli.main", fromlist=["app"]).app,
        ["board", "--month", "2027-03", "--today", str(TODAY)],
    )
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "Month board, renewals of March 2027 (worst first)"
    lone = next(i for i, x in enumerate(lines) if x.startswith("Lone Star HNW"))
    acme = next(i for i, x in enumerate(lines) if x.startswith("Acme Insurance"))
    assert lone < acme and "Run pipeline" in lines[lone] and "Upload pending" in lines[acme]
    assert "9 · uploaded" in lines[acme] and "attached (March 1st–7th" in lines[acme + 1]
    r = CliRunner().invoke(
        __import__("core.cli.main", fromlist=["app"]).app,
        ["board", "--month", "2027-13"],
    )
    assert r.exit_code == 1 and "is not like 2027-02" in r.output
    r = CliRunner().invoke(
        __import__("core.cli.main", fromlist=["app"]).app,
        ["board", "--plan", "Acme Insurance", "--month", "2027-03"],
    )
    assert r.exit_code == 1 and "master contacts database is not set up" in r.output


def test_the_page_shows_the_board_and_starts_a_run(month):
    month.close()
    store.close_all()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/month_board.py")
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="board-month").set_value(MONTH).run()
    table = at.dataframe[0].value
    assert list(table["client"]) == ["Lone Star HNW", "Acme Insurance"]
    assert [m.value for m in at.metric][:2] == ["2", "2"]
    act = next(s for s in at.selectbox if s.label == "Act for")
    act.set_value(1).run()
    upload = next(b for b in at.button if b.label == "Upload pending")
    assert not upload.disabled
    upload.click().run()
    assert not at.exception, at.exception
    db = store.get_db()
    kinds = db.rows("SELECT kind, CAST(params AS VARCHAR) FROM jobs")
    assert kinds and kinds[0][0] == "pipeline.run" and '"from_stage": "upload"' in kinds[0][1]


@pytest.mark.postgres
def test_fill_the_gap_shows_its_pull_plan_under_the_row_limit_then_pulls(month, master):  # noqa: F811
    from tests.test_master_db import configure

    configure(month)
    settings.set_value(month, "source_row_limit", 200, actor="t")
    month.execute("UPDATE package_tiers SET refined_contacts = 600 WHERE tier = 'T'")
    plan = board.pull_plan(month, 1, MONTH)
    want = plan["want"]
    assert (
        want
        == board.month_board(month, Scope.all(), MONTH, today=TODAY).filter(
            pl.col("client") == "Acme Insurance"
        )["recommended_pull"][0]
    )
    assert plan["row_limit"] == 200 and plan["available"] == 2840 and plan["zips"] == 3
    # 75201 (2,500) alone has enough: read in pages of at most 200 rows until the pull is full
    pages = math.ceil(want / 200)
    assert plan["queries"] == [{"zips": "75201", "contacts": 2500, "queries": pages}]
    assert plan["query_count"] == pages and plan["short_by"] == 0
    month.close()
    store.close_all()
    from core.cli.main import app

    r = CliRunner().invoke(
        app, ["board", "--fill", "Acme Insurance", "--month", "2027-03"], input="n\n"
    )
    assert r.exit_code == 1 and "Nothing pulled." in r.output
    assert f"{pages} source queries of at most 200 rows" in r.output
    r = CliRunner().invoke(
        app, ["board", "--fill", "Acme Insurance", "--month", "2027-03", "--yes"]
    )
    # pulled, filtered, verified and batched; the upload waits for a campaign to be chosen
    assert r.exit_code == 1 and "No upload campaign chosen" in r.output
    assert f"pull {want}/{want} — query {pages}" in r.output
    db = store.get_db()
    pulled = db.scalar(
        "SELECT count(*) FROM contacts WHERE source = 'master_db' AND workspace_id = 1"
    )
    assert pulled == 5 + want
    assert db.scalar("SELECT requested FROM pull_history") == want
