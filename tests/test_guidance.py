"""What the pages say to do: the Overview's main reason per client and its onboarding status,
next month's readiness in the status and as an alert, the new checks (nothing sent by mid-day,
a bill unpaid past its due date) and each alert's next step."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from core import overview
from core.accounts import access
from core.guardrails import alerts as guardrails
from core.guardrails import next_steps
from core.guardrails.checks import CHECKS, UNATTENDED_JOBS
from core.platform import secrets
from core.platform.scope import Scope

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
AS_OF = dt.date(2026, 11, 16)  # a Monday, day 16 of 30: expected 53.3 of a 100 target
ADMIN = access.User("admin@agency.com", "admin")
NEXT_MONTH = dt.date(2026, 12, 1)


def client(
    db, wid, name, *, created=dt.datetime(2026, 1, 5, tzinfo=UTC), tz=None, setup=True, token=False
):
    db.execute(
        "INSERT INTO workspaces (id, name, tier, monthly_target, created_at, timezone)"
        " VALUES (?, ?, '100', 100, ?, ?)",
        [wid, name, created, tz or "America/New_York"],
    )
    if setup:
        db.execute(
            "INSERT INTO zip_assignments (zip, workspace_id) VALUES (?, ?)", [f"7520{wid}", wid]
        )
        db.execute(
            "INSERT INTO pipeline_settings (workspace_id, upload_campaign_id, updated_by)"
            " VALUES (?, ?, 't')",
            [wid, wid * 100 + 1],
        )
    if token:  # what a client that has not sent yet needs to count as set up
        name = secrets.bison_token_name(wid)
        secrets.set_secret(db, name, f"tok-{wid}-abcd", kind="bison_token", actor="t")


def campaign(db, wid, *, status="active"):
    db.execute(
        "INSERT INTO bison_campaigns (workspace_id, id, name, status, created_at)"
        " VALUES (?, ?, ?, ?, TIMESTAMPTZ '2026-06-01 00:00+00')",
        [wid, wid * 100 + 1, f"Campaign {wid}", status],
    )


def sends(db, wid, first: dt.date, last: dt.date, per_day: int, reply_rate: float):
    db.execute(
        "INSERT INTO bison_campaign_daily (workspace_id, campaign_id, day, sent, replies)"
        " SELECT ?, ?, d::DATE, ?, ? FROM generate_series(?::DATE, ?::DATE, INTERVAL 1 DAY) g(d)",
        [wid, wid * 100 + 1, per_day, round(per_day * reply_rate), first, last],
    )


def interested(db, wid, n):
    db.execute(
        "INSERT INTO bison_replies (workspace_id, id, lead_id, interested, date_received)"
        " SELECT ?, ? * 1000 + i, ? * 1000 + i, true, TIMESTAMPTZ '2026-11-10 12:00+00'"
        " FROM range(?) t(i)",
        [wid, wid, wid, n],
    )


def ready(db, wid, n):
    db.execute(
        "INSERT INTO contacts (id, workspace_id, email, status, campaign_month, renewal_month)"
        " SELECT ? * 100000 + i, ?, 'c' || i || '@x.com', 'verified', ?, ? FROM range(?) t(i)",
        [wid, wid, NEXT_MONTH, dt.date(2027, 1, 1), n],
    )


@pytest.fixture
def board_db(empty_db):
    """Six clients, each with one thing wrong, and one with nothing wrong."""
    db = empty_db
    two_weeks = AS_OF - dt.timedelta(days=13)
    client(db, 1, "New Client", created=dt.datetime(2026, 11, 16, 9, tzinfo=UTC), setup=False)
    client(db, 2, "Idle Campaign")
    campaign(db, 2)
    sends(db, 2, AS_OF - dt.timedelta(days=14), AS_OF - dt.timedelta(days=5), 1750, 0.015)
    interested(db, 2, 60)
    client(db, 3, "Slow Sender")
    campaign(db, 3)
    sends(db, 3, two_weeks, AS_OF, 500, 0.015)  # 29 % of the 1,750 a day plan
    interested(db, 3, 20)
    client(db, 4, "Quiet Replies")
    campaign(db, 4)
    sends(db, 4, two_weeks, AS_OF, 1750, 0.003)
    interested(db, 4, 20)
    client(db, 5, "Short List")
    campaign(db, 5)
    sends(db, 5, two_weeks, AS_OF, 1750, 0.015)
    interested(db, 5, 60)
    client(db, 6, "All Good")
    campaign(db, 6)
    sends(db, 6, two_weeks, AS_OF, 1750, 0.015)
    interested(db, 6, 60)
    ready(db, 6, 9000)  # 60 % of the 15,000 plan on day 16 of 30 (the line is 53 %)
    return db


def test_main_reason_status_and_link_per_client(board_db):
    b = overview.guided_board(board_db, Scope.all(), AS_OF)
    got = {r["client"]: (r["status"], r["reason"], r["fix_page"]) for r in b.iter_rows(named=True)}
    assert got == {
        "New Client": ("onboarding", "onboarding", "settings"),
        "Idle Campaign": ("danger", "not_sending", "campaigns"),
        "Slow Sender": ("danger", "behind_sending", "sending_accounts"),
        "Quiet Replies": ("danger", "low_reply_rate", "copy_lab"),
        # on track for interested replies, but nothing ready for next month
        "Short List": ("danger", "next_month", "pipeline"),
        "All Good": ("on track", None, None),
    }
    rows = {r["client"]: r for r in b.iter_rows(named=True)}
    assert rows["New Client"]["fix_tab"] == "Setup"
    assert rows["New Client"]["reason_label"] == (
        "Setting up: checklist not finished: still to do: Email Bison token, territory, "
        "upload campaign"
    )
    assert rows["Slow Sender"]["reason_label"] == "Behind on sending: 29% of the plan a day"
    assert rows["Short List"]["reason_label"].endswith("0.0% of the volume plan")
    assert rows["Short List"]["fix_tab"] == "Gap to goal"
    # 5 replies a day of 1,750; the agency: 1,170 replies of 98,000 emails this month
    assert rows["Quiet Replies"]["reason_label"] == (
        "Low reply rate: 0.29% against the agency's 1.19%"
    )
    # worst first: dangers by pace, then onboarding, then on track
    assert b["status"].to_list()[-2:] == ["onboarding", "on track"]
    # the board's own status (this month's pace) is unchanged for the readiness-only client
    plain = overview.client_board(board_db, Scope.all(), AS_OF)
    assert dict(zip(plain["client"], plain["status"], strict=True))["Short List"] == "on track"


def test_readiness_line():
    # day 16 of 30: the line is 53.3 %; warning under 90 % of it, danger under 70 %
    assert overview.readiness_status(0.48, AS_OF, 0.9, 0.7) == "on track"
    assert overview.readiness_status(0.47, AS_OF, 0.9, 0.7) == "warning"
    assert overview.readiness_status(0.37, AS_OF, 0.9, 0.7) == "danger"
    assert overview.readiness_status(None, dt.date(2026, 11, 1), 0.9, 0.7) == "danger"


def test_next_month_alert_agrees_with_the_board(board_db):
    now = dt.datetime(2026, 11, 16, 20, tzinfo=UTC)
    df, ran, errors = guardrails.compute_findings(board_db, now, only=["next_month_ready"])
    assert ran == ["next_month_ready"] and not errors
    sev = dict(zip(df["workspace_id"], df["severity"], strict=True))
    assert sev == {2: "danger", 3: "danger", 4: "danger", 5: "danger"}  # not the new client
    b = overview.guided_board(board_db, Scope.all(), AS_OF)
    behind = {
        r["workspace_id"]
        for r in b.iter_rows(named=True)
        if r["ready_status"] != "on track" and r["status"] != "onboarding"
    }
    assert behind == set(sev)
    text = df.filter(pl.col("workspace_id") == 5)["explanation"][0]
    assert "0 refined contacts are ready for December's campaigns" in text
    assert "volume plan of 15,000" in text
    # in the month's first days (the grace period) it stays quiet
    third = dt.datetime(2026, 11, 3, 20, tzinfo=UTC)
    assert guardrails.compute_findings(board_db, third, only=["next_month_ready"])[0].height == 0


def test_a_client_being_set_up_gets_no_pace_or_volume_alerts(board_db):
    now = dt.datetime(2026, 11, 16, 20, tzinfo=UTC)
    checks = ["kpi_pacing", "sending_below_plan", "next_month_ready"]
    df, _, errors = guardrails.compute_findings(board_db, now, only=checks)
    assert not errors
    flagged = {(c, w) for c, w in zip(df["check_name"], df["workspace_id"], strict=True)}
    assert ("kpi_pacing", 3) in flagged and ("sending_below_plan", 3) in flagged
    assert not {w for _, w in flagged} & {1}  # the new client: onboarding, not danger
    # once it has sent its first emails it is a client like the others
    campaign(board_db, 1)
    sends(board_db, 1, AS_OF, AS_OF, 10, 0.0)
    df, _, _ = guardrails.compute_findings(board_db, now, only=checks)
    assert {"kpi_pacing", "sending_below_plan"} <= set(
        df.filter(pl.col("workspace_id") == 1)["check_name"]
    )


def _sync(db, wid, finished: dt.datetime):
    db.execute(
        "INSERT INTO sync_runs (id, source, workspace_id, started_at, finished_at, status)"
        " VALUES (nextval('sync_runs_id_seq'), 'bison', ?, ?, ?, 'succeeded')",
        [wid, finished - dt.timedelta(minutes=2), finished],
    )


def test_no_sending_today_by_midday_in_the_clients_time_zone(empty_db):
    db = empty_db
    client(db, 1, "Chicago", tz="America/Chicago", token=True)
    campaign(db, 1)
    client(db, 2, "Paused Only", tz="America/Chicago")
    campaign(db, 2, status="paused")
    client(db, 3, "Sent Today", tz="America/Chicago")
    campaign(db, 3)
    sends(db, 3, AS_OF, AS_OF, 40, 0.0)
    for wid in (1, 2, 3):
        _sync(db, wid, dt.datetime(2026, 11, 16, 19, 0, tzinfo=UTC))  # 1:00 PM in Chicago

    def flagged(now):
        df, _, errors = guardrails.compute_findings(db, now, only=["no_sending_today"])
        assert not errors, errors
        return df

    df = flagged(dt.datetime(2026, 11, 16, 19, 30, tzinfo=UTC))  # Monday 1:30 PM
    assert df["workspace_id"].to_list() == [1]
    assert df["title"][0] == "No email sent today by 1:30 PM"
    assert "America/Chicago" in df["explanation"][0] and "1:00 PM" in df["explanation"][0]
    # before mid-day there, nothing yet (17:30 UTC is 11:30 AM in Chicago)
    assert flagged(dt.datetime(2026, 11, 16, 17, 30, tzinfo=UTC)).height == 0
    # a sync from before mid-day cannot tell
    db.execute("UPDATE sync_runs SET finished_at = TIMESTAMPTZ '2026-11-16 17:00+00'")
    assert flagged(dt.datetime(2026, 11, 16, 19, 30, tzinfo=UTC)).height == 0
    # Saturday: no sending expected
    db.execute("UPDATE sync_runs SET finished_at = TIMESTAMPTZ '2026-11-21 19:00+00'")
    assert flagged(dt.datetime(2026, 11, 21, 19, 30, tzinfo=UTC)).height == 0


def test_bill_unpaid_past_its_due_date(empty_db):
    db = empty_db
    client(db, 1, "Owes")
    client(db, 2, "Other")
    now = dt.datetime(2026, 11, 16, 12, tzinfo=UTC)
    db.execute(
        "INSERT INTO stripe_customers (id, email, workspace_id, created) VALUES"
        " ('cus_1', 'a@x.com', 1, ?), ('cus_2', 'b@x.com', NULL, ?)",
        [now - dt.timedelta(days=400), now - dt.timedelta(days=400)],
    )

    def invoice(iid, customer, status, remaining, age_days):
        db.execute(
            "INSERT INTO stripe_invoices (id, customer_id, status, amount_due, amount_remaining,"
            " created, description) VALUES (?, ?, ?, 50000, ?, ?, 'October leads')",
            [iid, customer, status, remaining, now - dt.timedelta(days=age_days)],
        )

    invoice("in_31", "cus_1", "open", 50000, 31)  # a day past the 30-day term
    invoice("in_61", "cus_1", "open", 12345, 61)  # past twice the term
    invoice("in_29", "cus_1", "open", 50000, 29)  # not due yet
    invoice("in_paid", "cus_1", "paid", 0, 90)
    invoice("in_void", "cus_1", "void", 50000, 90)
    invoice("in_nobody", "cus_2", "open", 50000, 90)  # a customer of no client

    def found(at=now):
        df, _, errors = guardrails.compute_findings(db, at, only=["invoice_overdue"])
        assert not errors, errors
        return dict(zip(df["subject_id"], df["severity"], strict=True)), df

    sev, df = found()
    assert sev == {"in_31": "warning", "in_61": "danger"}
    row = df.filter(pl.col("subject_id") == "in_61").row(0, named=True)
    assert row["title"] == "Bill of $123.45 unpaid, 31 days past due"
    assert "123.45 USD to pay" in row["explanation"] and row["workspace_id"] == 1
    guardrails.set_override(db, ADMIN, 1, "guard_invoice_due_days", 45)
    assert found()[0] == {"in_61": "warning"}
    # read-only: the mirror is untouched
    assert db.scalar("SELECT count(*) FROM stripe_invoices WHERE status = 'open'") == 4


def test_every_check_has_a_next_step_on_a_page_that_exists():
    pages = {p.stem for p in (ROOT / "pages").glob("*.py")}
    for name in CHECKS:
        if name == "job_failed":
            continue
        step = next_steps.step_for(name)
        assert step is not next_steps.READ, f"{name} has no next step"
        assert step.page in pages, (name, step.page)
        if step.tab:
            assert f'"{step.tab}"' in (ROOT / "pages" / f"{step.page}.py").read_text(), step
    for kind in UNATTENDED_JOBS:
        step = next_steps.step_for("job_failed", kind)
        assert step.page in pages, (kind, step)
    assert next_steps.step_for("job_failed", "unknown.kind") is next_steps.READ
    frame = pl.DataFrame(
        {"check_name": ["invoice_overdue", "job_failed"], "subject_id": ["in_1", "sync.bison"]}
    )
    got = next_steps.with_steps(frame)
    assert got["fix_page"].to_list() == ["revenue", "data_sync"]
