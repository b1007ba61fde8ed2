"""The demo dataset: deterministic, complete, and shaped like the business."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest

from core.demo.loader import DATA_TABLES, batch_name, demo_stamp, load_demo, renewal_windows
from core.platform import store
from tests.conftest import AS_OF

PAGE_TABLES = [t for t in DATA_TABLES if t not in ("sync_cursors", "jobs", "secret_refs")]


def fingerprint(db: store.Database) -> dict[str, str]:
    out = {}
    for t in PAGE_TABLES:
        cols = [
            r[0]
            for r in db.rows(
                f"SELECT column_name FROM information_schema.columns WHERE table_name = '{t}' ORDER BY ordinal_position"
            )
        ]
        rows = db.rows(f"SELECT * FROM {t} ORDER BY ALL")
        out[t] = hashlib.sha256(repr((cols, rows)).encode()).hexdigest()
    return out


def test_same_seed_gives_identical_data_and_another_seed_does_not(tmp_path, demo_template):
    a = store.Database(demo_template, read_only=True)
    fa = fingerprint(a)
    a.close()
    b = store.Database(tmp_path / "b.duckdb")
    b.migrate()
    started = time.perf_counter()
    load_demo(b, scale="small", seed=42, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    assert fingerprint(b) == fa
    assert elapsed < 20, f"small demo took {elapsed:.1f}s (target < 20 s)"
    load_demo(b, scale="small", seed=7, as_of=AS_OF, replace=True)
    fb = fingerprint(b)
    assert fb["contacts"] != fa["contacts"] and fb["bison_replies"] != fa["bison_replies"]


def test_every_table_the_pages_read_is_filled(demo_db):
    for t in PAGE_TABLES:
        assert demo_db.scalar(f"SELECT count(*) FROM {t}") > 0, t


def test_demo_refuses_to_overwrite_without_replace(demo_db):
    from core.demo.loader import DemoError

    with pytest.raises(DemoError, match="--replace"):
        load_demo(demo_db, scale="small", seed=1, as_of=AS_OF)
    assert demo_db.scalar("SELECT count(*) FROM workspaces") == 12


def test_demo_carries_the_domain(demo_db):
    db = demo_db
    # packages: 100 and 200 interested a month; both billing models
    assert {r[0] for r in db.rows("SELECT DISTINCT monthly_target FROM workspaces")} == {100, 200}
    assert {r[0] for r in db.rows("SELECT DISTINCT billing_type FROM workspaces")} == {
        "per_lead",
        "retainer",
    }
    # exclusive territories of real ZIPs in each client's licensed state
    assert (
        db.scalar(
            "SELECT count(*) FROM (SELECT zip FROM zip_assignments GROUP BY zip HAVING count(*) > 1)"
        )
        == 0
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id"
            " JOIN us_zip_codes z USING (zip) WHERE NOT list_contains(w.licensed_states, z.state)"
        )
        == 0
    )
    # contacts in every pipeline status, in their client's ZIPs, renewing a month after mailing
    statuses = {r[0] for r in db.rows("SELECT DISTINCT status FROM contacts")}
    assert statuses == {"raw", "filtered", "rejected", "verified", "invalid", "batched", "uploaded"}
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts c LEFT JOIN zip_assignments a ON a.zip = c.zip AND a.workspace_id = c.workspace_id"
            " WHERE a.zip IS NULL"
        )
        == 0
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts WHERE renewal_month <> campaign_month + INTERVAL 1 MONTH"
        )
        == 0
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts WHERE month(purchase_date) <> month(renewal_month)"
        )
        == 0
    )
    # rejected contacts broke a rule
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts c JOIN workspaces w ON w.id = c.workspace_id WHERE c.status = 'rejected'"
            " AND c.head_of_household AND c.home_value <= w.home_value_cap"
        )
        == 0
    )
    # weekly renewal batches: four windows a month, contacts inside their window
    assert (
        db.scalar(
            "SELECT count(*) FROM (SELECT workspace_id, renewal_month FROM batches GROUP BY ALL HAVING count(*) <> 4)"
        )
        == 0
    )
    assert db.scalar("SELECT sum(contact_count) FROM batches") == db.scalar(
        "SELECT count(*) FROM contacts WHERE batch_id IS NOT NULL"
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM contacts WHERE status IN ('uploaded', 'batched') AND batch_id IS NULL"
        )
        == 0
    )
    # campaigns with steps and A/B variants; variants point at an original of the same step
    assert (
        db.scalar(
            "SELECT count(*) FROM bison_sequence_steps WHERE variant AND variant_of_step_id IS NULL"
        )
        == 0
    )
    assert (
        db.scalar(
            "SELECT count(*) FROM bison_sequence_steps v JOIN bison_sequence_steps o ON o.id = v.variant_of_step_id"
            " WHERE v.step_order <> o.step_order OR o.variant"
        )
        == 0
    )
    # one source of truth: campaign-level interested equals the interested leads the KPI counts
    assert db.scalar("SELECT sum(interested) FROM bison_campaign_daily") == db.scalar(
        "SELECT count(*) FROM interested_leads"
    )
    assert db.scalar("SELECT sum(sent) FROM bison_step_stats") == db.scalar(
        "SELECT sum(emails_sent) FROM bison_campaigns"
    )
    # per-lead invoices bill the interested count of their month
    row = db.rows(
        """
        SELECT i.amount_due, w.price_per_lead_cents * (SELECT count(*) FROM interested_leads l
               WHERE l.workspace_id = w.id AND l.interested_at >= i.period_start AND l.interested_at < i.period_end)
        FROM stripe_invoices i JOIN stripe_customers c ON c.id = i.customer_id JOIN workspaces w ON w.id = c.workspace_id
        WHERE w.billing_type = 'per_lead' ORDER BY i.id LIMIT 1
        """
    )[0]
    assert row[0] == row[1] and row[0] > 0


def test_renewal_windows_and_batch_names():
    w = renewal_windows(dt.date(2027, 2, 1))
    assert w[-1] == (dt.date(2027, 2, 22), dt.date(2027, 2, 28))
    assert batch_name(*w[0]) == "February 1st–7th renewals"
    assert batch_name(*w[2]) == "February 15th–21st renewals"


def test_demo_sending_accounts_show_a_few_in_trouble_worst_first(demo_db):
    from core.campaigns import campaigns
    from core.platform.scope import Scope

    accounts = campaigns.sender_accounts(demo_db, Scope.all(), bounce_threshold=0.03)
    flags = accounts["flags"].to_list()
    rank = [
        0 if "in active campaigns" in f
        else 1 if "bounce rate high" in f
        else 2 if "disconnected" in f
        else 3 if f
        else 4
        for f in flags
    ]  # fmt: skip
    assert rank == sorted(rank), "worst trouble first"
    # A normal day: a handful in real trouble, not one account in nine.
    bouncing = sum("bounce rate high" in f for f in flags)
    disconnected = sum("disconnected" in f for f in flags)
    assert 1 <= bouncing <= accounts.height // 50
    assert 1 <= disconnected <= accounts.height // 50


def test_todays_demo_was_synced_minutes_ago_and_another_days_at_six():
    today = dt.date(2026, 12, 7)
    afternoon = dt.datetime(2026, 12, 7, 15, 10, 33, 123, tzinfo=dt.UTC)
    night = dt.datetime(2026, 12, 7, 2, 0, 5, tzinfo=dt.UTC)
    assert demo_stamp(today, afternoon) == dt.datetime(2026, 12, 7, 15, 10, tzinfo=dt.UTC)
    assert demo_stamp(today, night) == dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    assert demo_stamp(dt.date(2026, 11, 23), afternoon) == dt.datetime(
        2026, 11, 23, 6, 0, tzinfo=dt.UTC
    )


def test_a_demo_loaded_now_has_no_stale_syncs_and_nothing_in_the_future(tmp_path):
    from core.guardrails import alerts as guardrails

    db = store.Database(tmp_path / "today.duckdb")
    db.migrate()
    load_demo(db, scale="small", seed=42)
    now = dt.datetime.now(dt.UTC)
    newest = db.scalar("SELECT max(finished_at) FROM sync_runs")
    assert now - dt.timedelta(hours=1) < newest <= now
    assert db.scalar("SELECT max(date_received) FROM bison_replies") <= now
    guardrails.run_checks(db, deliver=False)
    assert db.scalar("SELECT count(*) FROM alerts WHERE check_name = 'sync_stale'") == 0


def test_demo_pipeline_history_matches_the_contacts(demo_db):
    from core.pipeline import gap

    runs = demo_db.rows(
        "SELECT r.id, r.workspace_id, r.month, list(s.output_count ORDER BY s.position)"
        " FROM pipeline_runs r JOIN pipeline_stage_runs s ON s.run_id = r.id"
        " WHERE r.status = 'succeeded' GROUP BY ALL"
    )
    clients = demo_db.scalar("SELECT count(*) FROM workspaces")
    assert len(runs) >= 4 * clients  # months already uploaded, every client
    for _, wid, month, outs in runs:
        assert outs == sorted(outs, reverse=True), "each stage passes on at most what it got"
        uploaded = demo_db.scalar(
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND status = 'uploaded'",
            [wid, month],
        )
        assert outs[-1] == uploaded
    # the coming month is the pending work: no run for it yet
    newest = demo_db.scalar("SELECT max(renewal_month) FROM contacts")
    assert not demo_db.scalar("SELECT count(*) FROM pipeline_runs WHERE month = ?", [newest])
    rates = gap.pass_rates(demo_db, 1)
    assert rates["filter"]["basis"].startswith("this client") and 0.5 < rates["filter"]["rate"] < 1
