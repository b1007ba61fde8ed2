"""The queries behind the Overview page: the morning board of every client's pacing and volume.

Interested replies come from the `interested_leads` view only (one source of truth, shared with
billing and revenue). Dates are calendar days; "today" is the as-of date passed in.
"""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl

from core.platform import periods, settings, sync_status
from core.platform.scope import Scope
from core.platform.store import Database

STAGES = ["raw", "filtered", "verified", "uploaded", "replied", "interested"]


def month_bounds(as_of: dt.date) -> tuple[dt.date, dt.date, int]:
    start = as_of.replace(day=1)
    days = calendar.monthrange(as_of.year, as_of.month)[1]
    nxt = (start + dt.timedelta(days=32)).replace(day=1)
    return start, nxt, days


def _week_params(as_of: dt.date) -> dict[str, dt.date]:
    week = periods.last_7_days(as_of)
    return {"w7_start": week.start, "w7_end": week.end}


def _sent_per_day_sql(scope: Scope) -> str:
    """Emails sent a day per client over `periods.last_7_days` ($w7_start..$w7_end): the one
    definition the board, the sending-below-plan check and the client report share."""
    return f"""
        SELECT workspace_id, sum(sent)::BIGINT AS sent_7d, sum(sent) / 7.0 AS sent_per_day
        FROM bison_campaign_daily
        WHERE day BETWEEN $w7_start AND $w7_end AND {scope.filter()}
        GROUP BY ALL"""


def sent_per_day(db: Database, scope: Scope, as_of: dt.date) -> pl.DataFrame:
    """Per client: emails sent over the last 7 complete days (`sent_7d`) and their daily
    average (`sent_per_day`, unrounded). Clients that sent nothing have no row."""
    return db.query(_sent_per_day_sql(scope), _week_params(as_of))


def client_board(db: Database, scope: Scope, as_of: dt.date) -> pl.DataFrame:
    """One row per active client: KPI pacing, sending volume, next month's readiness, rates.

    Interested, replies and the reply rate count this month so far (today included); sent per
    day and sending vs plan the last 7 complete days (`sent_per_day`). See docs/figures.md."""
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
               sum(replies) FILTER (WHERE day >= $start) AS replies_mtd
        FROM bison_campaign_daily
        WHERE day >= $start AND day < $as_of_end AND {scope.filter()}
        GROUP BY ALL
    ),
    s7 AS ({_sent_per_day_sql(scope)}),
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
           round(coalesce(s7.sent_per_day, 0), 0) AS sent_per_day,
           w.plan_per_day,
           round(coalesce(s7.sent_per_day, 0) / nullif(w.plan_per_day, 0), 3) AS sending_vs_plan,
           coalesce(c.ready_next_month, 0) AS ready_next_month,
           w.plan_contacts,
           round(coalesce(c.ready_next_month, 0) / nullif(w.plan_contacts, 0), 3) AS ready_vs_plan,
           round(coalesce(d.replies_mtd, 0) / nullif(d.sent_mtd, 0), 4) AS reply_rate,
           round(coalesce(il.interested_mtd, 0) / nullif(d.replies_mtd, 0), 4) AS interested_rate
    FROM w LEFT JOIN il ON il.workspace_id = w.id LEFT JOIN d ON d.workspace_id = w.id
           LEFT JOIN s7 ON s7.workspace_id = w.id LEFT JOIN c ON c.workspace_id = w.id
    ORDER BY CASE status WHEN 'danger' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, pace NULLS FIRST, client
    """
    return db.query(
        sql,
        {
            "start": start,
            "as_of_end": as_of + dt.timedelta(days=1),
            **_week_params(as_of),
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
    """KPI cards: the last 7 complete days against the 7 before (`periods.last_7_days`,
    `periods.previous_7_days`), this month so far against the same days last month."""

    def totals(w: periods.Window) -> dict[str, int]:
        return _period_totals(db, scope, w.start, w.end_exclusive)

    week = totals(periods.last_7_days(as_of))
    prev_week = totals(periods.previous_7_days(as_of))
    mtd = totals(periods.month_to_date(as_of))
    prev_mtd = totals(periods.same_days_last_month(as_of))
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


# Contact statuses in pipeline order (where a contact stands now); the last two are removals.
STATUS_ORDER_CONTACTS = ["raw", "filtered", "verifying", "verified", "batched", "uploaded"]
STATUS_ORDER_CONTACTS += ["rejected", "invalid"]


def contacts_by_stage(
    db: Database, scope: Scope, start: dt.date | None = None, end: dt.date | None = None
) -> pl.DataFrame:
    """Contacts by the stage they stand at now, in pipeline order. With `start` and `end`, only
    contacts imported in [start, end]: the funnel's cohort, so its "uploaded" is this "uploaded"."""
    cond, params = "", {}
    if start is not None and end is not None:
        cond = "AND imported_at >= $s AND imported_at < $e + INTERVAL 1 DAY"
        params = {"s": start, "e": end}
    return db.query(
        f"""SELECT status, count(*) AS contacts FROM contacts WHERE {scope.filter()} {cond}
            GROUP BY status
            ORDER BY coalesce(list_position($order, status), 99), status""",
        {**params, "order": STATUS_ORDER_CONTACTS},
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
    """Per source: whether it is connected and its last real sync (`sync_status.source_status`).
    A client's scope sees only its own clients' Email Bison, never Stripe (agency-wide)."""
    return sync_status.source_status(db, scope)


# -- what to do about each client ------------------------------------------------------------

# Each main reason: its words, the page that fixes it (pages/<page>.py), that place in words, and
# the tab of that page to open (None: the page as it opens).
REASONS: dict[str, tuple[str, str, str, str | None]] = {
    "onboarding": ("Setting up: checklist not finished", "settings", "Settings → Setup", "Setup"),
    "not_sending": ("Campaign not sending", "campaigns", "Campaigns", None),
    "behind_sending": ("Behind on sending", "sending_accounts", "Sending accounts", None),
    "next_month": (
        "Too few contacts ready for next month",
        "pipeline",
        "Pipeline → Gap to goal",
        "Gap to goal",
    ),
    "low_reply_rate": ("Low reply rate", "copy_lab", "Copy Lab", None),
    "behind_interested": ("Behind on interested replies", "campaigns", "Campaigns", None),
}
STATUS_ORDER = ("danger", "warning", "onboarding", "on track")
# A client's reply rate this month under this share of the agency's is "low".
LOW_REPLY_SHARE = 0.7


def readiness_status(
    ready_vs_plan: float | None, as_of: dt.date, warn: float, danger: float
) -> str:
    """Next month's list against a straight line from nothing on the 1st to the whole volume plan
    at the month's end: the same warning and danger ratios as KPI pacing."""
    _, _, days = month_bounds(as_of)
    line = as_of.day / days
    ready = ready_vs_plan or 0.0
    if ready >= line * warn:
        return "on track"
    return "warning" if ready >= line * danger else "danger"


def client_setup_facts(db: Database, scope: Scope, as_of: dt.date) -> pl.DataFrame:
    """Per active client: whether it is still being set up (added today or a setup step missing,
    and no email sent yet) and whether its campaigns send."""
    hours = int(settings.get(db, "guard_not_sending_hours"))
    idle_days = max(1, hours // 24)  # whole sending days without a send
    idle_before = as_of - dt.timedelta(days=idle_days)
    return db.query(
        f"""
        WITH sent AS (
            SELECT workspace_id, campaign_id, max(day) FILTER (WHERE sent > 0) AS last_day,
                   sum(sent) AS total
            FROM bison_campaign_daily WHERE day <= $as_of AND {scope.filter()} GROUP BY ALL
        ),
        ever AS (  -- emails sent, or replies received (a reply means something was sent)
            SELECT workspace_id, sum(n) AS total FROM (
                SELECT workspace_id, coalesce(sum(total), 0) AS n FROM sent GROUP BY ALL
                UNION ALL
                SELECT workspace_id, count(*) FROM bison_replies WHERE {scope.filter()} GROUP BY ALL
            ) GROUP BY ALL
        ),
        act AS (  -- idle: no send on any of its sending days (its schedule's) since the last send
            SELECT c.workspace_id, count(*) AS active_campaigns,
                   count(*) FILTER (WHERE c.created_at::DATE < $idle_before AND len(list_filter(
                       generate_series(greatest(coalesce(s.last_day + 1, c.created_at::DATE),
                                                $idle_before - 366), $as_of - 1, INTERVAL 1 DAY),
                       lambda d: sch.campaign_id IS NULL OR len(sch.days) = 0
                                 OR list_contains(sch.days, lower(dayname(d))))) >= $idle_days
                   ) AS idle_campaigns
            FROM bison_campaigns c LEFT JOIN sent s
              ON s.workspace_id = c.workspace_id AND s.campaign_id = c.id
            LEFT JOIN bison_campaign_schedules sch
              ON sch.workspace_id = c.workspace_id AND sch.campaign_id = c.id
            WHERE c.status = 'active' AND {scope.filter("c.workspace_id")} GROUP BY ALL
        ),
        zips AS (SELECT workspace_id, count(*) AS n FROM zip_assignments GROUP BY ALL)
        SELECT w.id AS workspace_id,
               w.created_at::DATE >= $as_of AS added_today,
               coalesce(zips.n, 0) = 0 AS no_territory,
               p.upload_campaign_id IS NULL AS no_upload_campaign,
               r.name IS NULL AS no_token,
               coalesce(ever.total, 0) = 0 AS never_sent,
               coalesce(act.active_campaigns, 0) AS active_campaigns,
               coalesce(act.idle_campaigns, 0) AS idle_campaigns
        FROM workspaces w
        LEFT JOIN zips ON zips.workspace_id = w.id
        LEFT JOIN pipeline_settings p ON p.workspace_id = w.id
        LEFT JOIN secret_refs r ON r.name = 'bison.workspace.' || w.id
        LEFT JOIN ever ON ever.workspace_id = w.id
        LEFT JOIN act ON act.workspace_id = w.id
        WHERE w.active AND {scope.filter("w.id")}
        """,
        {"as_of": as_of, "idle_before": idle_before, "idle_days": idle_days},
    )


def is_onboarding(facts: dict) -> bool:
    """Still being set up: nothing sent and no reply yet, and added today or a setup step missing."""
    return bool(facts["never_sent"]) and bool(
        facts["added_today"]
        or facts["no_territory"]
        or facts["no_upload_campaign"]
        or facts["no_token"]
    )


def onboarding_clients(db: Database, scope: Scope, as_of: dt.date) -> set[int]:
    """The clients the board shows as "onboarding" on `as_of`."""
    facts = client_setup_facts(db, scope, as_of)
    return {r["workspace_id"] for r in facts.iter_rows(named=True) if is_onboarding(r)}


def _main_reason(
    r: dict, ready_status: str, agency_reply_rate: float | None, danger: float, plan_ratio: float
) -> str | None:
    """The first thing to fix: setup, then a campaign that does not send, then whichever of this
    month's pace and next month's list is worse (this month's on a tie), each by its likely cause."""
    if r["onboarding"]:
        return "onboarding"
    if r["active_campaigns"] == 0 or r["idle_campaigns"] > 0:
        return "not_sending"
    sending = r["sending_vs_plan"]
    low_reply = bool(
        agency_reply_rate
        and r["reply_rate"] is not None
        and r["reply_rate"] < LOW_REPLY_SHARE * agency_reply_rate
    )
    pace_rank, ready_rank = STATUS_ORDER.index(r["status"]), STATUS_ORDER.index(ready_status)
    if r["status"] != "on track" and pace_rank <= ready_rank:
        if sending is not None and sending < danger:
            return "behind_sending"
        return "low_reply_rate" if low_reply else "behind_interested"
    if ready_status != "on track":
        return "next_month"
    if sending is not None and sending < plan_ratio:
        return "behind_sending"
    return "low_reply_rate" if low_reply else None


def _reason_numbers(reason: str, r: dict, agency_reply_rate: float | None) -> str:
    """The figures behind a main reason, in words."""
    if reason == "onboarding":
        missing = [
            what
            for key, what in (
                ("no_token", "Email Bison token"),
                ("no_territory", "territory"),
                ("no_upload_campaign", "upload campaign"),
            )
            if r[key]
        ]
        return ("still to do: " + ", ".join(missing)) if missing else "added today"
    if reason == "not_sending":
        if r["active_campaigns"] == 0:
            return "no active campaign"
        idle, active = r["idle_campaigns"], r["active_campaigns"]
        return f"{idle} of {active} active campaigns sent nothing lately"
    if reason == "behind_sending":
        return f"{r['sending_vs_plan']:.0%} of the plan a day"
    if reason == "next_month":
        return f"{r['ready_vs_plan'] or 0:.1%} of the volume plan"
    if reason == "low_reply_rate":
        return f"{r['reply_rate']:.2%} against the agency's {agency_reply_rate:.2%}"
    return f"{r['pace'] or 0:.0%} of expected by today"


def guided_board(db: Database, scope: Scope, as_of: dt.date) -> pl.DataFrame:
    """The client board with what to do: next month's readiness counted in the status, a client
    still being set up shown as "onboarding", and each client's main reason with the page that
    fixes it (`reason`, `reason_label`, `fix_page`, `fix_where`, `fix_tab`). Worst first."""
    board = client_board(db, scope, as_of)
    facts = client_setup_facts(db, scope, as_of)
    conf = settings.get_all(db)
    warn, danger = conf["kpi_warning_ratio"], conf["kpi_danger_ratio"]
    plan_ratio = float(conf["guard_plan_use_ratio"])
    totals = db.rows(
        f"""SELECT sum(sent), sum(replies) FROM bison_campaign_daily
            WHERE day >= $s AND day <= $e AND {scope.filter()}""",
        {"s": month_bounds(as_of)[0], "e": as_of},
    )[0]
    agency_reply_rate = (totals[1] or 0) / totals[0] if totals[0] else None
    df = board.join(facts, on="workspace_id", how="left")
    rows = []
    for r in df.iter_rows(named=True):
        r["onboarding"] = is_onboarding(r)
        ready = readiness_status(r["ready_vs_plan"], as_of, warn, danger)
        worst = min(r["status"], ready, key=STATUS_ORDER.index)
        reason = _main_reason(r, ready, agency_reply_rate, danger, plan_ratio)
        label, page, where, tab = REASONS.get(reason, (None, None, None, None))
        if reason:
            label = f"{label}: {_reason_numbers(reason, r, agency_reply_rate)}"
        rows.append(
            {
                "workspace_id": r["workspace_id"],
                "status": "onboarding" if r["onboarding"] else worst,
                "ready_status": ready,
                "reason": reason,
                "reason_label": label,
                "fix_page": page,
                "fix_where": where,
                "fix_tab": tab,
            }
        )
    extra = pl.DataFrame(
        rows,
        schema={
            "workspace_id": board.schema["workspace_id"],
            "status": pl.Utf8,
            "ready_status": pl.Utf8,
            "reason": pl.Utf8,
            "reason_label": pl.Utf8,
            "fix_page": pl.Utf8,
            "fix_where": pl.Utf8,
            "fix_tab": pl.Utf8,
        },
        orient="row",
    )
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    return (
        board.drop("status")
        .join(extra, on="workspace_id", how="left", maintain_order="left")
        .with_columns(pl.col("status").replace_strict(rank, default=len(rank)).alias("_rank"))
        .sort(["_rank", "pace", "client"], nulls_last=False)
        .drop("_rank")
    )
