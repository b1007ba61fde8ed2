"""Guardrails: every check for 50 clients, 2,000 campaigns and 5,000 sending accounts, against
the bare SQL floor of the same aggregates.

Run: .venv/bin/python benchmarks/guardrails.py   (builds its dataset on first run, about 20 s)
Targets: all checks under 2 s, and a full run (checks + alert upsert + sender snapshot, no
delivery) under 2 s. The ratio to the floor is reported, not judged (it swung between 4x and 11x
on this busy shared machine, the floor being 14 tiny queries of about 4 ms each): beyond the bare
aggregates the checks join each client's thresholds, find the reasons, word every explanation
with its numbers and hand back a frame per check; KPI pacing reuses the whole Overview board.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from common import ROOT, Report, best_of

from core.guardrails import alerts as guardrails
from core.platform import store

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
CLIENTS, CAMPAIGNS, SENDERS = 50, 2_000, 5_000


def build(db: store.Database) -> None:
    t = time.perf_counter()
    with db.transaction() as cur:
        for table in (
            "workspaces",
            "bison_campaigns",
            "bison_campaign_daily",
            "bison_sequence_steps",
            "bison_step_stats",
            "bison_sender_emails",
            "bison_campaign_sender_emails",
            "sender_email_snapshots",
            "bison_replies",
            "batches",
            "sync_runs",
            "alerts",
            "alert_events",
        ):
            cur.execute(f"DELETE FROM {table}")
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            f"INSERT INTO workspaces (id, name, tier, monthly_target) SELECT i, 'Client ' || i,"
            f" CASE WHEN i % 3 = 0 THEN '200' ELSE '100' END, CASE WHEN i % 3 = 0 THEN 200 ELSE 100 END"
            f" FROM range(1, {CLIENTS + 1}) t(i)"
        )
        cur.execute(
            f"INSERT INTO bison_campaigns (workspace_id, id, name, status, emails_sent, bounced, interested,"
            f" total_leads, total_leads_contacted, created_at)"
            f" SELECT 1 + i % {CLIENTS}, 10000 + i, 'Campaign ' || i,"
            f" CASE WHEN i % 5 = 0 THEN 'paused' WHEN i % 7 = 0 THEN 'completed' ELSE 'active' END,"
            f" 50000, 600, 40, 30000, 20000 + (random() * 10000)::INT, TIMESTAMPTZ '2026-06-01'"
            f" FROM range({CAMPAIGNS}) t(i)"
        )
        cur.execute(
            "INSERT INTO bison_campaign_daily (workspace_id, campaign_id, day, sent, replies, bounced, unsubscribed)"
            " SELECT c.workspace_id, c.id, DATE '2026-11-23' - d::INT, s, (s * 0.01)::INT,"
            " (s * CASE WHEN c.id % 50 = 0 THEN 0.05 ELSE 0.01 END)::INT, (s * 0.002)::INT"
            " FROM bison_campaigns c, range(90) t(d),"
            " LATERAL (SELECT CASE WHEN c.id % 97 = 0 AND d < 3 THEN 0 ELSE 30 + (random() * 40)::INT END AS s)"
        )
        cur.execute(
            "INSERT INTO bison_sequence_steps (workspace_id, id, campaign_id, step_order, email_subject, variant, active)"
            " SELECT c.workspace_id, c.id * 10 + k, c.id, 1 + k // 3, 'Subject ' || k, k % 3 > 0, c.id % 211 <> 0"
            " FROM bison_campaigns c, range(9) t(k)"
        )
        cur.execute(
            "INSERT INTO bison_step_stats (workspace_id, campaign_id, step_id, day, sent, bounced)"
            " SELECT s.workspace_id, s.campaign_id, s.id, DATE '2026-11-23' - d::INT, 4 + (random() * 4)::INT, 0"
            " FROM bison_sequence_steps s, range(7) t(d)"
        )
        cur.execute(
            f"INSERT INTO bison_sender_emails (workspace_id, id, email, status, daily_limit, emails_sent_count,"
            f" bounced_count, unsubscribed_count, created_at)"
            f" SELECT 1 + i % {CLIENTS}, 50000 + i, 'rep' || i || '@example.com',"
            f" CASE WHEN i % 40 = 0 THEN 'disconnected' ELSE 'connected' END, 30, 20000 + i % 1000,"
            f" 200 + (i % 13) * 20, 40, TIMESTAMPTZ '2026-05-01' FROM range({SENDERS}) t(i)"
        )
        cur.execute(
            "INSERT INTO bison_campaign_sender_emails SELECT DISTINCT c.workspace_id, c.id, s.id"
            " FROM bison_campaigns c JOIN bison_sender_emails s ON s.workspace_id = c.workspace_id"
            " AND (s.id + c.id) % 8 = 0"
        )
        cur.execute(
            "INSERT INTO sender_email_snapshots SELECT workspace_id, id, DATE '2026-11-23' - d::INT,"
            " emails_sent_count - d * CASE WHEN id % 17 = 0 THEN 0 ELSE 30 END,"
            " bounced_count - d * CASE WHEN id % 29 = 0 THEN 3 ELSE 0 END, unsubscribed_count"
            " FROM bison_sender_emails, range(1, 15) t(d)"
        )
        cur.execute(
            f"INSERT INTO bison_replies (workspace_id, id, campaign_id, lead_id, interested, date_received)"
            f" SELECT 1 + i % {CLIENTS}, i, 10000 + i % {CAMPAIGNS}, i, i % 4 = 0,"
            f" TIMESTAMPTZ '2026-11-23' - to_minutes((random() * 130000)::BIGINT) FROM range(100000) t(i)"
        )
        cur.execute(
            "INSERT INTO batches (workspace_id, campaign_month, renewal_month, window_start, window_end, name, status)"
            " SELECT w.id, DATE '2026-12-01', DATE '2027-01-01', DATE '2027-01-01' + (k * 7)::INT,"
            " DATE '2027-01-07' + (k * 7)::INT, 'January batch ' || k, CASE WHEN w.id % 4 = 0 THEN 'pending' ELSE 'uploaded' END"
            " FROM workspaces w, range(4) t(k)"
        )
        cur.execute(
            "INSERT INTO sync_runs (source, workspace_id, started_at, finished_at, status)"
            " SELECT 'bison', w.id, TIMESTAMPTZ '2026-11-23 14:00+00' - to_hours(h * (1 + w.id % 9)),"
            " TIMESTAMPTZ '2026-11-23 14:01+00' - to_hours(h * (1 + w.id % 9)), 'succeeded'"
            " FROM workspaces w, range(20) t(h)"
        )
    print(f"# built the guardrails dataset in {time.perf_counter() - t:.1f} s", flush=True)


# The floor: the aggregates every check needs, as bare SQL fetched as raw tuples.
FLOOR_SQL = [
    "SELECT workspace_id, campaign_id, sum(sent), sum(bounced), sum(unsubscribed) FROM bison_campaign_daily"
    " WHERE day > DATE '2026-11-16' AND day <= DATE '2026-11-23' GROUP BY ALL",
    "SELECT e.workspace_id, e.id, e.emails_sent_count - s.emails_sent_count, e.bounced_count - s.bounced_count,"
    " e.unsubscribed_count - s.unsubscribed_count FROM bison_sender_emails e JOIN sender_email_snapshots s"
    " ON s.workspace_id = e.workspace_id AND s.sender_email_id = e.id AND s.day = DATE '2026-11-16'",
    "SELECT workspace_id, campaign_id, max(day) FROM bison_campaign_daily WHERE sent > 0 GROUP BY ALL",
    "SELECT workspace_id, campaign_id, count(*) FROM bison_sequence_steps WHERE active GROUP BY ALL",
    "SELECT l.workspace_id, l.campaign_id, count(*), count(*) FILTER (WHERE s.status = 'connected')"
    " FROM bison_campaign_sender_emails l JOIN bison_sender_emails s ON s.workspace_id = l.workspace_id"
    " AND s.id = l.sender_email_id GROUP BY ALL",
    "SELECT workspace_id, sum(total_leads - total_leads_contacted), sum(interested) FROM bison_campaigns"
    " WHERE status = 'active' GROUP BY ALL",
    "SELECT s.workspace_id, sum(s.sent) FROM bison_step_stats s JOIN bison_sequence_steps q"
    " ON q.workspace_id = s.workspace_id AND q.id = s.step_id AND q.step_order = 1"
    " WHERE s.day > DATE '2026-11-16' GROUP BY ALL",
    "SELECT workspace_id, window_start, status FROM batches WHERE window_start BETWEEN DATE '2026-12-01'"
    " AND DATE '2027-02-01'",
    "SELECT workspace_id, count(*), count(*) FILTER (WHERE interested_at >= DATE '2026-11-01') FROM interested_leads GROUP BY ALL",
    "SELECT workspace_id, sum(sent) FROM bison_campaign_daily WHERE day > DATE '2026-11-16' GROUP BY ALL",
    "SELECT s.workspace_id, s.sender_email_id FROM sender_email_snapshots s JOIN bison_sender_emails e"
    " ON e.workspace_id = s.workspace_id AND e.id = s.sender_email_id WHERE s.day = DATE '2026-11-16'"
    " AND s.emails_sent_count = e.emails_sent_count",
    "SELECT l.workspace_id, l.sender_email_id, count(*) FROM bison_campaign_sender_emails l JOIN bison_campaigns c"
    " ON c.workspace_id = l.workspace_id AND c.id = l.campaign_id WHERE c.status = 'active' GROUP BY ALL",
    "SELECT source, workspace_id, max(finished_at) FILTER (WHERE status = 'succeeded') FROM sync_runs GROUP BY ALL",
    "SELECT w.id, t.emails_per_day, w.monthly_target FROM workspaces w JOIN package_tiers t USING (tier) WHERE w.active",
]


def floor(db: store.Database) -> None:
    with db.cursor() as cur:
        for sql in FLOOR_SQL:
            cur.execute(sql).fetchall()


def main() -> int:
    path = Path(os.environ.get("LEADOPS_GUARD_BENCH_DB", ROOT / "data" / "bench_guardrails.duckdb"))
    path.parent.mkdir(parents=True, exist_ok=True)
    db = store.Database(path)
    db.migrate()
    if db.scalar("SELECT count(*) FROM bison_campaigns") != CAMPAIGNS:
        build(db)
    print(
        f"# dataset: {db.scalar('SELECT count(*) FROM workspaces')} clients, "
        f"{db.scalar('SELECT count(*) FROM bison_campaigns'):,} campaigns, "
        f"{db.scalar('SELECT count(*) FROM bison_sender_emails'):,} sending accounts, "
        f"{db.scalar('SELECT count(*) FROM bison_campaign_daily'):,} campaign-days"
    )
    report = Report()
    f = best_of(lambda: floor(db), repeat=5)
    t_checks = best_of(lambda: guardrails.compute_findings(db, NOW), repeat=5)
    findings, _, errors = guardrails.compute_findings(db, NOW)
    if errors:
        print(f"# check errors: {errors}")
        return 1
    print(
        f"# {findings.height:,} findings: "
        + ", ".join(
            f"{k} {v}" for k, v in sorted(findings.group_by("check_name").len().iter_rows())
        )
    )
    with db.transaction() as cur:
        cur.execute("DELETE FROM alerts")
        cur.execute("DELETE FROM alert_events")
    t_run = best_of(lambda: guardrails.run_checks(db, now=NOW, deliver=False), repeat=5)
    print(
        f"guardrails.checks: {t_checks:.3f} s | floor {f:.3f} s | ratio {t_checks / f:.2f}x | info"
    )
    report.absolute("guardrails.checks", t_checks, 2.0)
    report.absolute("guardrails.run", t_run, 2.0)
    print(f"RESULT: {'PASS' if report.ok else 'FAIL'}")
    db.close()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
