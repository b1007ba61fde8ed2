"""Checks about today and the weeks ahead: nothing sent by mid-day, next month's list, bills.

The two SQL checks follow the conventions of core/guardrails/checks.py (the `guard_th` relation,
`$now`, one row per finding with the usual columns). Next month's readiness reuses the Overview's
board and its readiness line (core/overview.py), so the alert and the board never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from core import overview
from core.platform.scope import Scope
from core.platform.store import Database

# Local hour from which a weekday with no email sent yet is worth a look.
MIDDAY_HOUR = 12

# Weekdays only, in the client's time zone, from mid-day, once a sync after mid-day shows the day
# still empty (before that sync the data cannot tell; a stale sync has its own alert).
NO_SENDING_TODAY = f"""
WITH w AS (
    SELECT w.id AS workspace_id, w.timezone AS tz, timezone(w.timezone, $now) AS local_now
    FROM workspaces w JOIN guard_th t ON t.workspace_id = w.id
),
act AS (
    SELECT workspace_id, count(*) AS campaigns FROM bison_campaigns
    WHERE status = 'active' GROUP BY ALL
),
synced AS (
    SELECT workspace_id, max(finished_at) AS last_ok FROM sync_runs
    WHERE source = 'bison' AND status = 'succeeded' AND workspace_id IS NOT NULL
      AND triggered_by IS DISTINCT FROM 'demo'  -- the demo's sample rows are not syncs
    GROUP BY ALL
),
x AS (
    SELECT w.*, act.campaigns, synced.last_ok,
           (SELECT coalesce(sum(d.sent), 0) FROM bison_campaign_daily d
            WHERE d.workspace_id = w.workspace_id AND d.day = CAST(w.local_now AS DATE)) AS sent_today
    FROM w JOIN act USING (workspace_id) JOIN synced USING (workspace_id)
)
SELECT workspace_id, 'warning' AS severity, 'client' AS subject_kind, NULL AS subject_id,
       NULL AS subject_name,
       printf('No email sent today by %s', strftime(local_now, '%-I:%M %p')) AS title,
       printf('It is %s in the client''s time zone (%s) and its %d active campaign(s) have sent '
              || 'nothing today, as of the last sync at %s. Check the campaigns'' schedules and '
              || 'sending accounts.', strftime(local_now, '%A %-I:%M %p'), tz, campaigns,
              strftime(timezone(tz, last_ok), '%-I:%M %p')) AS explanation,
       0.0 AS metric, CAST({MIDDAY_HOUR} AS DOUBLE) AS threshold
FROM x
WHERE isodow(local_now) <= 5 AND hour(local_now) >= {MIDDAY_HOUR} AND sent_today = 0
  AND CAST(timezone(tz, last_ok) AS DATE) = CAST(local_now AS DATE)
  AND hour(timezone(tz, last_ok)) >= {MIDDAY_HOUR}
"""

# Open Stripe invoices with money left to pay, past their due date: the invoice's creation plus
# `guard_invoice_due_days` (the mirror keeps no due date of its own). Read-only.
INVOICE_OVERDUE = """
WITH x AS (
    SELECT m.workspace_id, i.id, i.description, i.amount_remaining, i.currency, i.created,
           i.created + to_days(t.guard_invoice_due_days) AS due, t.guard_invoice_due_days AS days
    FROM stripe_invoices i
    JOIN stripe_customer_workspace m ON m.customer_id = i.customer_id
    JOIN guard_th t ON t.workspace_id = m.workspace_id
    WHERE i.status = 'open' AND i.amount_remaining > 0
)
SELECT workspace_id,
       CASE WHEN $now > due + to_days(days) THEN 'danger' ELSE 'warning' END AS severity,
       'invoice' AS subject_kind, id AS subject_id, coalesce(description, id) AS subject_name,
       printf('Bill of %s unpaid, %d days past due', printf('$%,.2f', amount_remaining / 100.0),
              CAST(floor(epoch($now - due) / 86400) AS BIGINT)) AS title,
       printf('Stripe invoice %s (%s) was issued on %s and is still open with %s %s to pay; it was '
              || 'due on %s (%d days after issue). Ask the client to pay or check the card on file.',
              id, coalesce(description, 'no description'), strftime(created, '%b %-d, %Y'),
              printf('%,.2f', amount_remaining / 100.0), upper(currency),
              strftime(due, '%b %-d, %Y'), days) AS explanation,
       epoch($now - due) / 86400 AS metric, CAST(days AS DOUBLE) AS threshold
FROM x WHERE $now > due
"""


def next_month_readiness(db: Database, th: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """Refined contacts ready for next month's campaigns under the Overview's readiness line,
    with each client's KPI ratios and grace days."""
    today = now.date()
    board = overview.client_board(db, Scope.all(), today)
    rows: list[dict[str, Any]] = []
    if board.height:
        df = board.join(
            th.select(
                "workspace_id", "kpi_warning_ratio", "kpi_danger_ratio", "guard_pacing_grace_days"
            ),
            on="workspace_id",
        ).filter((pl.col("guard_pacing_grace_days") < today.day) & (pl.col("plan_contacts") > 0))
        _, nxt, days = overview.month_bounds(today)
        setting_up = overview.onboarding_clients(db, Scope.all(), today)
        for r in df.iter_rows(named=True):
            if r["workspace_id"] in setting_up:  # the board shows "onboarding", not a list
                continue
            status = overview.readiness_status(
                r["ready_vs_plan"], today, r["kpi_warning_ratio"], r["kpi_danger_ratio"]
            )
            if status == "on track":
                continue
            ready = r["ready_vs_plan"] or 0.0
            line = today.day / days
            rows.append(
                {
                    "workspace_id": r["workspace_id"],
                    "severity": status,
                    "subject_kind": "month",
                    "subject_id": f"{nxt:%Y-%m}",
                    "subject_name": f"{nxt:%B %Y}",
                    "title": f"Next month's list {ready:.1%} ready",
                    "explanation": (
                        f"{r['ready_next_month']:,} refined contacts are ready for {nxt:%B}'s "
                        f"campaigns against a volume plan of {r['plan_contacts']:,} ({ready:.1%}). "
                        f"By day {today.day} of {days} about {line:.0%} should be ready "
                        f"(below {r['kpi_warning_ratio']:.0%} of that is a warning, below "
                        f"{r['kpi_danger_ratio']:.0%} danger). Pull or import contacts and run "
                        "the pipeline."
                    ),
                    "metric": ready,
                    "threshold": line * r["kpi_warning_ratio"],
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "workspace_id": pl.Int32,
            "severity": pl.Utf8,
            "subject_kind": pl.Utf8,
            "subject_id": pl.Utf8,
            "subject_name": pl.Utf8,
            "title": pl.Utf8,
            "explanation": pl.Utf8,
            "metric": pl.Float64,
            "threshold": pl.Float64,
        },
        orient="row",
    )


# Checks about a client's volume and pace: silent while the client is still being set up (the
# Overview shows it as "onboarding" with its setup checklist instead).
SETUP_QUIET = ("kpi_pacing", "sending_below_plan", "next_month_ready", "no_sending_today")


def quiet_while_setting_up(db: Database, found: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """`found` without the pace and volume findings of clients still being set up."""
    if found.height == 0:
        return found
    setting_up = overview.onboarding_clients(db, Scope.all(), now.date())
    if not setting_up:
        return found
    quiet = pl.col("check_name").is_in(SETUP_QUIET) & pl.col("workspace_id").is_in(
        sorted(setting_up)
    )
    return found.filter(~quiet.fill_null(False))
