"""The queries behind the Overview page: the morning board of every client's pacing and volume.

Interested replies come from the `interested_leads` view only (one source of truth, shared with
billing and revenue). Dates are calendar days; "today" is the as-of date passed in.
"""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl

from core.platform import settings
from core.platform.scope import Scope
from core.platform.store import Database

STAGES = ["raw", "filtered", "verified", "uploaded", "replied", "interested"]


def month_bounds(as_of: dt.date) -> tuple[dt.date, dt.date, int]:
    start = as_of.replace(day=1)
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    nxt = (start + dt.timedelta(days=32)).replace(day=1)
    return start, nxt, days


def client_board(db: Database, scope: Scope, as_of: dt.date) -> pl.DataFrame:
    """One row per active client: KPI pacing, sending volume, next month's readiness, rates."""
    start, nxt, days_in_month = month_bounds(as_of)
    next_month = nxt
    conf = settings.get_all(db)
    warn, danger = conf["kpi_warning_ratio"], conf["kpi_danger_ratio"]
    elapsed = as_of.day / days_in_month
    sql = f"""
    WITH w AS (
        SELECT w.id, w.name, w.tier, w.monthly_target, w.billing_type, t.emails_per_day AS plan_per_day,
               t.refined_contacts AS plan_contacts
        FROM workspaces w JOIN package_tiers t USING (tier)
        WHERE w.active AND {scope.filter("w.id")}
    ),
    il AS (
        SELECT workspace_id, count(*) AS interested_mtd FROM interested_leads
        WHERE interested_at >= $start AND interested_at < $as_of_end AND {scope.filter()}
        GROUP BY ALL
    ),
    d AS (
        SELECT workspace_id,
               sum(sent) FILTER (WHERE day >= $start) AS sent_mtd,
               sum(replies) FILTER (WHERE day >= $start) AS replies_mtd,
               sum(sent) FILTER (WHERE day >= $week_ago) / 7.0 AS sent_per_day_7d
        FROM bison_campaign_daily
        WHERE day >= least($start, $week_ago) AND day < $as_of_end AND {scope.filter()}
        GROUP BY ALL
    ),
    c AS (
        SELECT workspace_id, count(*) AS ready_next_month FROM contacts
        WHERE campaign_month = $next_month AND status IN ('verified', 'batched', 'uploaded') AND {scope.filter()}
        GROUP BY ALL
    )
    SELECT w.id AS workspace_id, w.name AS client, w.tier, w.monthly_target AS target,
           coalesce(il.interested_mtd, 0) AS interested_mtd,
           round(w.monthly_target * $elapsed, 1) AS expected_by_today,
           round(coalesce(il.interested_mtd, 0) / nullif(w.monthly_target * $elapsed, 0), 3) AS pace,
           CASE WHEN coalesce(il.interested_mtd, 0) >= w.monthly_target * $elapsed * $warn THEN 'on track'
                WHEN coalesce(il.interested_mtd, 0) >= w.monthly_target * $elapsed * $danger THEN 'warning'
                ELSE 'danger' END AS status,
           round(coalesce(d.sent_per_day_7d, 0), 0) AS sent_per_day,
           w.plan_per_day,
           round(coalesce(d.sent_per_day_7d, 0) / nullif(w.plan_per_day, 0), 3) AS sending_vs_plan,
           coalesce(c.ready_next_month, 0) AS ready_next_month,
           w.plan_contacts,
           round(coalesce(c.ready_next_month, 0) / nullif(w.plan_contacts, 0), 3) AS ready_vs_plan,
           round(coalesce(d.replies_mtd, 0) / nullif(d.sent_mtd, 0), 4) AS reply_rate,
           round(coalesce(il.interested_mtd, 0) / nullif(d.replies_mtd, 0), 4) AS interested_rate
    FROM w LEFT JOIN il ON il.workspace_id = w.id LEFT JOIN d ON d.workspace_id = w.id
           LEFT JOIN c ON c.workspace_id = w.id
    ORDER BY CASE status WHEN 'danger' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, pace NULLS FIRST, client
    """
    return db.query(
        sql,
        {
            "start": start,
            "as_of_end": as_of + dt.timedelta(days=1),
            "week_ago": as_of - dt.timedelta(days=7),
            "next_month": next_month,
            "elapsed": elapsed,
            "warn": warn,
            "danger": danger,
        },
    )


def _period_totals(db: Database, scope: Scope, start: dt.date, end: dt.date) -> dict[str, int]:
    """Sent, replies and interested in [start, end)."""
    row = db.rows(
        f"""
        SELECT (SELECT coalesce(sum(sent), 0) FROM bison_campaign_daily
                 WHERE day >= $s AND day < $e AND {scope.filter()}),
               (SELECT coalesce(sum(replies), 0) FROM bison_campaign_daily
                 WHERE day >= $s AND day < $e AND {scope.filter()}),
               (SELECT count(*) FROM interested_leads
                 WHERE interested_at >= $s AND interested_at < $e AND {scope.filter()})
        """,
        {"s": start, "e": end},
    )[0]
    return {"sent": int(row[0]), "replies": int(row[1]), "interested": int(row[2])}


def agency_kpis(db: Database, scope: Scope, as_of: dt.date) -> dict[str, dict[str, int]]:
    """KPI cards: this week vs last week, month-to-date vs the same days last month."""
    end = as_of + dt.timedelta(days=1)
    week = _period_totals(db, scope, end - dt.timedelta(days=7), end)
    prev_week = _period_totals(db, scope, end - dt.timedelta(days=14), end - dt.timedelta(days=7))
    start, _, _ = month_bounds(as_of)
    prev_start = (start - dt.timedelta(days=1)).replace(day=1)
    prev_days = calendar.monthrange(prev_start.year, prev_start.month)[1]
    prev_end = prev_start + dt.timedelta(days=min(as_of.day, prev_days))
    mtd = _period_totals(db, scope, start, end)
    prev_mtd = _period_totals(db, scope, prev_start, prev_end)
    target = db.scalar(
        f"SELECT coalesce(sum(monthly_target), 0) FROM workspaces WHERE active AND {scope.filter('id')}"
    )
    return {
        "week": week,
        "prev_week": prev_week,
        "mtd": mtd,
        "prev_mtd": prev_mtd,
        "target": {"monthly_target": int(target)},
    }


def contacts_by_stage(db: Database, scope: Scope) -> pl.DataFrame:
    return db.query(
        f"SELECT status, count(*) AS contacts FROM contacts WHERE {scope.filter()} GROUP BY ALL ORDER BY contacts DESC"
    )


def daily_series(db: Database, scope: Scope, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Sent, replies and interested per day in [start, end]."""
    return db.query(
        f"""
        WITH days AS (SELECT unnest(generate_series($s::DATE, $e::DATE, INTERVAL 1 DAY))::DATE AS day),
        d AS (SELECT day, sum(sent)::BIGINT AS sent, sum(replies)::BIGINT AS replies FROM bison_campaign_daily
              WHERE day BETWEEN $s AND $e AND {scope.filter()} GROUP BY ALL),
        i AS (SELECT interested_at::DATE AS day, count(*) AS interested FROM interested_leads
              WHERE interested_at >= $s AND interested_at < $e + INTERVAL 1 DAY AND {scope.filter()} GROUP BY ALL)
        SELECT days.day, coalesce(d.sent, 0) AS sent, coalesce(d.replies, 0) AS replies,
               coalesce(i.interested, 0) AS interested
        FROM days LEFT JOIN d USING (day) LEFT JOIN i USING (day) ORDER BY days.day
        """,
        {"s": start, "e": end},
    )


def funnel(db: Database, scope: Scope, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The cohort of contacts imported in [start, end]: how many passed each stage.

    raw -> filtered (passed the rules) -> verified (safe to send) -> uploaded -> replied ->
    interested (leads of this cohort in `interested_leads`).
    """
    row = db.rows(
        f"""
        WITH c AS (
            SELECT id, workspace_id, status FROM contacts
            WHERE imported_at >= $s AND imported_at < $e + INTERVAL 1 DAY AND {scope.filter()}
        ),
        l AS (SELECT l.workspace_id, l.id FROM bison_leads l JOIN c ON c.id = l.contact_id),
        r AS (SELECT count(DISTINCT (r.workspace_id, r.lead_id)) AS replied FROM bison_replies r
              JOIN l ON l.workspace_id = r.workspace_id AND l.id = r.lead_id
              WHERE NOT r.automated_reply),
        i AS (SELECT count(*) AS interested FROM interested_leads i
              JOIN l ON l.workspace_id = i.workspace_id AND CAST(l.id AS VARCHAR) = i.lead_key)
        SELECT count(*) AS raw,
               count(*) FILTER (WHERE status NOT IN ('raw', 'rejected')) AS filtered,
               count(*) FILTER (WHERE status IN ('verified', 'batched', 'uploaded')) AS verified,
               count(*) FILTER (WHERE status = 'uploaded') AS uploaded,
               any_value(r.replied), any_value(i.interested)
        FROM c, r, i
        """,
        {"s": start, "e": end},
    )[0]
    return pl.DataFrame({"stage": STAGES, "count": [int(v or 0) for v in row]})


def activity_feed(db: Database, scope: Scope, limit: int = 30) -> pl.DataFrame:
    """Recent happenings: interested replies, uploads, syncs and changes, newest first.

    Agency-wide runs (a Stripe sync, with its customer and invoice counts) belong to no client:
    only a scope of every client sees them (`scope.filter` is false for a NULL workspace)."""
    return db.query(
        f"""
        SELECT * FROM (
            SELECT r.date_received AS happened_at, 'interested reply' AS kind, w.name AS client,
                   coalesce(r.from_name, r.from_email) || ': ' || left(r.text_body, 80) AS detail
            FROM (SELECT * FROM bison_replies WHERE interested AND {scope.filter()}
                  ORDER BY date_received DESC LIMIT $n) r
            JOIN workspaces w ON w.id = r.workspace_id
            UNION ALL
            SELECT b.uploaded_at, 'batch uploaded', w.name, b.name || ' (' || b.contact_count || ' contacts)'
            FROM (SELECT * FROM batches WHERE uploaded_at IS NOT NULL AND {scope.filter()}
                  ORDER BY uploaded_at DESC LIMIT $n) b
            JOIN workspaces w ON w.id = b.workspace_id
            UNION ALL
            SELECT s.finished_at, s.source || ' sync ' || s.status, w.name,
                   coalesce(s.error, CAST(s.counts AS VARCHAR))
            FROM (SELECT * FROM sync_runs WHERE finished_at IS NOT NULL AND {scope.filter()}
                  ORDER BY finished_at DESC LIMIT $n) s
            LEFT JOIN workspaces w ON w.id = s.workspace_id
        ) ORDER BY happened_at DESC LIMIT $n
        """,
        {"n": limit},
    )


def data_freshness(db: Database, scope: Scope | None = None) -> pl.DataFrame:
    """Last successful sync per source. A client's scope sees only its own workspaces' runs,
    never agency-wide ones (Stripe); no scope means every run."""
    where = (scope or Scope.all()).filter()
    return db.query(
        f"""
        SELECT source, max(finished_at) AS last_success, count(*) AS runs
        FROM sync_runs WHERE status = 'succeeded' AND {where} GROUP BY source ORDER BY source
        """
    )
