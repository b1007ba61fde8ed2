"""The guardrail checks: each one set-based SQL over every client at once.

Every check reads the per-client thresholds from the `guard_th` relation (one row per active
client: the registry default, or the client's own value from `guardrail_overrides`) and returns
one row per finding with these columns:

    workspace_id, severity, subject_kind, subject_id, subject_name, title, explanation,
    metric, threshold

`explanation` says in plain words what was found and the numbers behind it. Parameters: `$now`
(TIMESTAMPTZ), `$today` (DATE, the day `$now` falls on in UTC), and `$w7_start`, `$w7_end`, `$w7_span`:
the last 7 complete days (`core.platform.periods.last_7_days`), the window of every per-day figure.
`guard_sent` holds the Overview's emails sent a day per client over that window.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.guardrails import checks_credits, checks_daily

SEVERITIES = ("info", "warning", "danger")


@dataclass(frozen=True)
class Check:
    name: str
    label: str
    severity: str
    settings: tuple[str, ...]
    what: str
    sql: str = ""  # empty: computed in core.guardrails.alerts (the KPI board is reused as is)


def _campaign_rate(metric: str, label: str, setting: str) -> str:
    return f"""
    WITH d AS (
        SELECT d.workspace_id, d.campaign_id, sum(d.sent) AS sent, sum(d.{metric}) AS n
        FROM bison_campaign_daily d JOIN guard_th t USING (workspace_id)
        WHERE d.day > $today - t.guard_rate_window_days AND d.day <= $today
        GROUP BY ALL
    )
    SELECT d.workspace_id, 'danger' AS severity, 'campaign' AS subject_kind,
           CAST(d.campaign_id AS VARCHAR) AS subject_id, c.name AS subject_name,
           printf('{label} rate %.2f%% on campaign %s', 100.0 * d.n / d.sent, c.name) AS title,
           printf('%d of %d emails sent in the last %d days were {metric} (%.2f%%), above the '
                  || 'threshold of %.2f%%. The rate counts only emails sent, and only once at '
                  || 'least %d were sent in the window.', d.n, d.sent, t.guard_rate_window_days,
                  100.0 * d.n / d.sent, 100.0 * t.{setting}, t.guard_rate_min_sends) AS explanation,
           d.n / d.sent AS metric, t.{setting} AS threshold
    FROM d JOIN guard_th t USING (workspace_id)
    JOIN bison_campaigns c ON c.workspace_id = d.workspace_id AND c.id = d.campaign_id
    WHERE d.sent >= t.guard_rate_min_sends AND d.n - t.{setting} * d.sent > 1e-9
    """


def _sender_rate(metric: str, label: str, setting: str) -> str:
    return f"""
    WITH base AS (
        SELECT s.workspace_id, s.sender_email_id, min(s.day) AS since,
               arg_min(s.emails_sent_count, s.day) AS sent0, arg_min(s.{metric}_count, s.day) AS n0
        FROM sender_email_snapshots s JOIN guard_th t USING (workspace_id)
        WHERE s.day >= $today - t.guard_rate_window_days AND s.day < $today
        GROUP BY ALL
    ),
    w AS (
        SELECT e.workspace_id, e.id, e.email, b.since,
               e.emails_sent_count - coalesce(b.sent0, 0) AS sent,
               e.{metric}_count - coalesce(b.n0, 0) AS n
        FROM bison_sender_emails e JOIN guard_th t USING (workspace_id)
        LEFT JOIN base b ON b.workspace_id = e.workspace_id AND b.sender_email_id = e.id
    )
    SELECT w.workspace_id, 'danger' AS severity, 'sender' AS subject_kind,
           CAST(w.id AS VARCHAR) AS subject_id, w.email AS subject_name,
           printf('{label} rate %.2f%% on sending account %s', 100.0 * w.n / w.sent, w.email) AS title,
           printf('%d of %d emails sent %s were {metric} (%.2f%%), above the threshold of %.2f%% '
                  || '(counted once at least %d were sent).', w.n, w.sent,
                  CASE WHEN w.since IS NULL THEN 'over the account''s life (no daily snapshot in the window yet)'
                       ELSE 'since ' || strftime(w.since, '%b %-d') END,
                  100.0 * w.n / w.sent, 100.0 * t.{setting}, t.guard_rate_min_sends) AS explanation,
           w.n / w.sent AS metric, t.{setting} AS threshold
    FROM w JOIN guard_th t USING (workspace_id)
    WHERE w.sent >= t.guard_rate_min_sends AND w.n - t.{setting} * w.sent > 1e-9
    """


CAMPAIGN_NOT_SENDING = """
WITH c AS (
    SELECT c.* FROM bison_campaigns c JOIN guard_th t USING (workspace_id) WHERE c.status = 'active'
),
last AS (
    SELECT d.workspace_id, d.campaign_id, max(d.day) AS last_day
    FROM bison_campaign_daily d SEMI JOIN c ON c.workspace_id = d.workspace_id AND c.id = d.campaign_id
    WHERE d.sent > 0 AND d.day <= $today GROUP BY ALL
),
seq AS (
    SELECT workspace_id, campaign_id, count(*) AS steps FROM bison_sequence_steps
    WHERE active GROUP BY ALL
),
snd AS (
    SELECT l.workspace_id, l.campaign_id, count(*) AS accounts,
           count(*) FILTER (WHERE s.status = 'connected') AS connected
    FROM bison_campaign_sender_emails l
    LEFT JOIN bison_sender_emails s ON s.workspace_id = l.workspace_id AND s.id = l.sender_email_id
    GROUP BY ALL
),
x AS (
    SELECT c.workspace_id, c.id, c.name, t.guard_not_sending_hours AS limit_hours,
           last.last_day,
           -- hours since the last send, less the whole days its schedule does not send on (a
           -- Mon–Fri campaign is not idle over the weekend)
           greatest(0, epoch($now - coalesce(CAST(last.last_day + 1 AS TIMESTAMPTZ), c.created_at, $now)) / 3600.0
             - 24 * CASE WHEN sch.campaign_id IS NULL OR len(sch.days) = 0 THEN 0 ELSE len(list_filter(
                   generate_series(CAST(coalesce(CAST(last.last_day + 1 AS TIMESTAMPTZ), c.created_at, $now) AS DATE),
                                   CAST($now AS DATE) - 1, INTERVAL 1 DAY),
                   lambda d: NOT list_contains(sch.days, lower(dayname(d))))) END) AS idle_hours,
           coalesce(seq.steps, 0) AS steps, coalesce(snd.accounts, 0) AS accounts,
           coalesce(snd.connected, 0) AS connected, c.total_leads - c.total_leads_contacted AS leads_left,
           sch.days AS sch_days, sch.start_time, sch.end_time, sch.timezone AS sch_tz,
           CASE WHEN sch.campaign_id IS NULL THEN NULL
                ELSE len(sch.days) = 0
                  OR NOT list_contains(sch.days, lower(dayname(timezone(sch.timezone, $now))))
                  OR CAST(timezone(sch.timezone, $now) AS TIME) NOT BETWEEN sch.start_time AND sch.end_time
           END AS schedule_closed
    FROM c JOIN guard_th t USING (workspace_id)
    LEFT JOIN last ON last.workspace_id = c.workspace_id AND last.campaign_id = c.id
    LEFT JOIN seq ON seq.workspace_id = c.workspace_id AND seq.campaign_id = c.id
    LEFT JOIN snd ON snd.workspace_id = c.workspace_id AND snd.campaign_id = c.id
    LEFT JOIN bison_campaign_schedules sch ON sch.workspace_id = c.workspace_id AND sch.campaign_id = c.id
)
SELECT workspace_id, 'danger' AS severity, 'campaign' AS subject_kind, CAST(id AS VARCHAR) AS subject_id,
       name AS subject_name,
       printf('Campaign %s has not sent for %d hours', name, CAST(floor(idle_hours) AS BIGINT)) AS title,
       printf('Active in Email Bison, but %s (%d hours of its sending days; the limit is %d). Reason found: %s.',
              CASE WHEN last_day IS NULL THEN 'no email has been sent since it was created'
                   ELSE 'its last send was on ' || strftime(last_day, '%a %b %-d') END,
              CAST(floor(idle_hours) AS BIGINT), limit_hours,
              CASE WHEN steps = 0 THEN 'no sequence (no active steps)'
                   WHEN accounts = 0 THEN 'no sending accounts attached'
                   WHEN connected = 0 THEN printf('all %d attached sending accounts are disconnected', accounts)
                   WHEN leads_left <= 0 THEN 'no leads left to contact'
                   WHEN schedule_closed THEN printf('the schedule window is closed (%s %s–%s %s)',
                        array_to_string(sch_days, ','), left(CAST(start_time AS VARCHAR), 5), left(CAST(end_time AS VARCHAR), 5), sch_tz)
                   ELSE 'none in the synced data (sequence, accounts and leads look fine; check the schedule and Email Bison''s sending log)'
              END) AS explanation,
       idle_hours AS metric, limit_hours AS threshold
FROM x WHERE idle_hours >= limit_hours
"""

LEADS_RUNNING_OUT = """
WITH c AS (
    SELECT c.workspace_id, c.id, greatest(c.total_leads - c.total_leads_contacted, 0) AS left_
    FROM bison_campaigns c JOIN guard_th t USING (workspace_id) WHERE c.status = 'active'
),
lft AS (SELECT workspace_id, sum(left_) AS uncontacted, count(*) AS campaigns FROM c GROUP BY ALL),
first_step AS (
    SELECT s.workspace_id, sum(s.sent) / 7.0 AS per_day
    FROM bison_step_stats s
    JOIN bison_sequence_steps q ON q.workspace_id = s.workspace_id AND q.id = s.step_id AND q.step_order = 1
    SEMI JOIN c ON c.workspace_id = s.workspace_id AND c.id = s.campaign_id
    WHERE s.day BETWEEN $w7_start AND $w7_end GROUP BY ALL
),
all_sends AS (
    SELECT d.workspace_id, sum(d.sent) / 7.0 / 3 AS per_day
    FROM bison_campaign_daily d SEMI JOIN c ON c.workspace_id = d.workspace_id AND c.id = d.campaign_id
    WHERE d.day BETWEEN $w7_start AND $w7_end GROUP BY ALL
),
x AS (
    SELECT lft.workspace_id, lft.uncontacted, lft.campaigns,
           coalesce(f.per_day, a.per_day, 0) AS per_day, t.guard_leads_days_left AS limit_days
    FROM lft JOIN guard_th t USING (workspace_id)
    LEFT JOIN first_step f USING (workspace_id) LEFT JOIN all_sends a USING (workspace_id)
)
SELECT workspace_id, CASE WHEN uncontacted = 0 THEN 'danger' ELSE 'warning' END AS severity,
       'client' AS subject_kind, NULL AS subject_id, NULL AS subject_name,
       CASE WHEN uncontacted = 0 THEN 'No uncontacted leads left'
            ELSE printf('Leads run out in %.1f days', uncontacted / per_day) END AS title,
       CASE WHEN uncontacted = 0
            THEN printf('The %d active campaigns have contacted every lead they hold; upload the next renewal batch.', campaigns)
            ELSE printf('%d uncontacted leads in %d active campaigns; at the last 7 days'' pace of %.0f new leads a '
                        || 'day that is %.1f days, under the %d-day limit.', uncontacted, campaigns, per_day,
                        uncontacted / per_day, limit_days) END AS explanation,
       CASE WHEN uncontacted = 0 THEN 0 ELSE uncontacted / per_day END AS metric, limit_days AS threshold
FROM x WHERE uncontacted = 0 OR (per_day > 0 AND uncontacted / per_day < limit_days)
"""

RENEWAL_BATCH_LATE = """
WITH months AS (
    SELECT CAST(m AS DATE) AS m FROM unnest(generate_series(
        date_trunc('month', $today) - INTERVAL 1 MONTH, date_trunc('month', $today) + INTERVAL 4 MONTH,
        INTERVAL 1 MONTH)) AS g(m)
),
windows AS (
    SELECT m + (k - 1) AS window_start,
           CASE WHEN k = 22 THEN last_day(m) ELSE m + (k + 5) END AS window_end
    FROM months, (VALUES (1), (8), (15), (22)) AS v(k)
),
due AS (
    SELECT t.workspace_id, w.window_start, w.window_end,
           CAST(date_trunc('week', w.window_start - t.campaign_lead_days) AS DATE) AS monday,
           t.guard_batch_notice_days AS notice
    FROM guard_th t, windows w
),
x AS (
    SELECT d.*, b.name AS batch_name, b.status AS batch_status, b.error
    FROM due d LEFT JOIN batches b ON b.workspace_id = d.workspace_id AND b.window_start = d.window_start
    WHERE d.monday BETWEEN $today - 6 AND $today + d.notice
      AND coalesce(b.status, 'missing') <> 'uploaded'
)
SELECT workspace_id, CASE WHEN monday <= $today THEN 'danger' ELSE 'warning' END AS severity,
       'batch' AS subject_kind, strftime(window_start, '%Y-%m-%d') AS subject_id,
       coalesce(batch_name, strftime(window_start, '%B %-d') || '–' || strftime(window_end, '%-d') || ' renewals') AS subject_name,
       printf('Renewal batch %s not uploaded %s', strftime(window_start, '%b %-d') || '–' || strftime(window_end, '%-d'),
              CASE WHEN monday <= $today THEN 'by its Monday' ELSE 'yet' END) AS title,
       printf('The batch for renewals %s–%s must be uploaded by Monday %s (mailing starts about %d days before '
              || 'renewal); %s.', strftime(window_start, '%b %-d'), strftime(window_end, '%b %-d'),
              strftime(monday, '%b %-d'), (SELECT any_value(campaign_lead_days) FROM guard_th),
              CASE WHEN batch_status IS NULL THEN 'no batch has been cut for this window'
                   WHEN batch_status = 'failed' THEN 'its upload failed: ' || coalesce(error, 'no error recorded')
                   ELSE 'it is ' || batch_status END) AS explanation,
       CAST(datediff('day', monday, $today) AS DOUBLE) AS metric, CAST(notice AS DOUBLE) AS threshold
FROM x
"""

SENDER_DISCONNECTED = """
WITH used AS (
    SELECT l.workspace_id, l.sender_email_id, count(*) AS active_campaigns,
           string_agg(c.name, '; ' ORDER BY c.name) AS names
    FROM bison_campaign_sender_emails l
    JOIN bison_campaigns c ON c.workspace_id = l.workspace_id AND c.id = l.campaign_id
    SEMI JOIN bison_sender_emails d ON d.workspace_id = l.workspace_id AND d.id = l.sender_email_id
        AND d.status = 'disconnected'
    WHERE c.status = 'active' GROUP BY ALL
)
SELECT e.workspace_id, 'danger' AS severity, 'sender' AS subject_kind, CAST(e.id AS VARCHAR) AS subject_id,
       e.email AS subject_name, printf('Disconnected account %s is in %d active campaigns', e.email, u.active_campaigns) AS title,
       printf('Sending account %s is disconnected in Email Bison but still attached to %d active campaign(s): %s. '
              || 'Reconnect it or detach it; its share of the daily volume is not being sent.',
              e.email, u.active_campaigns, u.names) AS explanation,
       CAST(u.active_campaigns AS DOUBLE) AS metric, 0.0 AS threshold
FROM bison_sender_emails e JOIN guard_th t USING (workspace_id)
JOIN used u ON u.workspace_id = e.workspace_id AND u.sender_email_id = e.id
WHERE e.status = 'disconnected'
"""

SENDER_UNUSED = """
WITH old AS (
    SELECT s.workspace_id, s.sender_email_id, arg_max(s.emails_sent_count, s.day) AS sent_then, max(s.day) AS day
    FROM sender_email_snapshots s JOIN guard_th t USING (workspace_id)
    WHERE s.day <= $today - t.guard_sender_unused_days GROUP BY ALL
),
attached AS (
    SELECT l.workspace_id, l.sender_email_id, count(*) FILTER (WHERE c.status = 'active') AS active_campaigns
    FROM bison_campaign_sender_emails l
    JOIN bison_campaigns c ON c.workspace_id = l.workspace_id AND c.id = l.campaign_id GROUP BY ALL
)
SELECT e.workspace_id, 'warning' AS severity, 'sender' AS subject_kind, CAST(e.id AS VARCHAR) AS subject_id,
       e.email AS subject_name, printf('Sending account %s unused', e.email) AS title,
       CASE WHEN o.day IS NOT NULL AND e.emails_sent_count = o.sent_then
            THEN printf('Connected, but it has sent nothing since %s (%d emails then and now); the limit is %d days.',
                        strftime(o.day, '%b %-d'), e.emails_sent_count, t.guard_sender_unused_days)
            ELSE printf('Connected for more than %d days but attached to no active campaign; it sends nothing.',
                        t.guard_sender_unused_days) END AS explanation,
       CAST(t.guard_sender_unused_days AS DOUBLE) AS metric, CAST(t.guard_sender_unused_days AS DOUBLE) AS threshold
FROM bison_sender_emails e JOIN guard_th t USING (workspace_id)
LEFT JOIN old o ON o.workspace_id = e.workspace_id AND o.sender_email_id = e.id
LEFT JOIN attached a ON a.workspace_id = e.workspace_id AND a.sender_email_id = e.id
WHERE e.status = 'connected'
  AND ((o.day IS NOT NULL AND e.emails_sent_count = o.sent_then)
       OR (coalesce(a.active_campaigns, 0) = 0
           AND coalesce(e.created_at, $now) <= $now - to_days(t.guard_sender_unused_days)))
"""

SENDING_BELOW_PLAN = """
WITH d AS (  -- the Overview's emails sent a day over the last 7 complete days (core.overview.sent_per_day)
    SELECT workspace_id, sent_per_day AS per_day FROM guard_sent
),
cap AS (
    SELECT workspace_id, coalesce(sum(daily_limit), 0) AS capacity, count(*) AS connected
    FROM bison_sender_emails WHERE status = 'connected' GROUP BY ALL
)
SELECT t.workspace_id, 'warning' AS severity, 'client' AS subject_kind, NULL AS subject_id, NULL AS subject_name,
       printf('Sending %.0f%% of the plan', 100.0 * coalesce(d.per_day, 0) / t.plan_per_day) AS title,
       printf('%.0f emails a day over the last 7 days (%s) against the %s package''s plan of %d (%.0f%%, under the %.0f%% '
              || 'limit). %d connected sending accounts can send %d a day.', coalesce(d.per_day, 0), $w7_span, t.tier,
              t.plan_per_day, 100.0 * coalesce(d.per_day, 0) / t.plan_per_day, 100.0 * t.guard_plan_use_ratio,
              coalesce(cap.connected, 0), coalesce(cap.capacity, 0)) AS explanation,
       coalesce(d.per_day, 0) / t.plan_per_day AS metric, t.guard_plan_use_ratio AS threshold
FROM guard_th t LEFT JOIN d USING (workspace_id) LEFT JOIN cap USING (workspace_id)
WHERE t.plan_per_day > 0 AND coalesce(d.per_day, 0) - t.guard_plan_use_ratio * t.plan_per_day < -1e-9
"""

SYNC_STALE = """
WITH s AS (
    SELECT source, workspace_id, max(finished_at) FILTER (WHERE status = 'succeeded') AS last_ok,
           max(started_at) AS last_try, arg_max(error, started_at) AS last_error,
           arg_max(status, started_at) AS last_status
    FROM sync_runs GROUP BY ALL
),
x AS (  -- per-client sources of active clients, and agency-wide ones (no client)
    SELECT s.*, coalesce(t.guard_sync_stale_hours, $stale_hours) AS limit_hours
    FROM s LEFT JOIN guard_th t ON t.workspace_id = s.workspace_id
    WHERE s.workspace_id IS NULL OR t.workspace_id IS NOT NULL
)
SELECT workspace_id, 'warning' AS severity, 'source' AS subject_kind, source AS subject_id,
       source AS subject_name,
       printf('%s data is %s old', source,
              CASE WHEN last_ok IS NULL THEN 'never synced successfully, so'
                   ELSE printf('%.0f hours', epoch($now - last_ok) / 3600) END) AS title,
       printf('The %s sync %s; the limit is %d hours. Last attempt %s: %s.', source,
              CASE WHEN last_ok IS NULL THEN 'has never succeeded'
                   || CASE WHEN workspace_id IS NULL THEN '' ELSE ' for this client' END
                   ELSE printf('last succeeded %.0f hours ago', epoch($now - last_ok) / 3600) END,
              limit_hours, strftime(last_try, '%b %-d %H:%M UTC'),
              coalesce(last_status, '?') || coalesce(' — ' || last_error, '')) AS explanation,
       epoch($now - coalesce(last_ok, last_try)) / 3600 AS metric, CAST(limit_hours AS DOUBLE) AS threshold
FROM x
WHERE last_ok IS NULL OR epoch($now - last_ok) / 3600 > limit_hours
"""

INTERESTED_MISMATCH = """
WITH c AS (SELECT workspace_id, sum(interested) AS in_campaigns FROM bison_campaigns GROUP BY ALL),
r AS (SELECT workspace_id, count(*) AS in_replies FROM interested_leads GROUP BY ALL)
SELECT t.workspace_id, 'warning' AS severity, 'client' AS subject_kind, NULL AS subject_id, NULL AS subject_name,
       printf('Interested count disagrees by %d', abs(coalesce(c.in_campaigns, 0) - coalesce(r.in_replies, 0))) AS title,
       printf('Email Bison''s campaigns count %d interested replies, the synced replies give %d interested '
              || 'leads (difference %d, more than the %d allowed). KPI and billing use the replies; a reply '
              || 'sync gap or a manual change in Email Bison usually explains it.',
              coalesce(c.in_campaigns, 0), coalesce(r.in_replies, 0),
              abs(coalesce(c.in_campaigns, 0) - coalesce(r.in_replies, 0)), t.guard_interested_mismatch) AS explanation,
       CAST(abs(coalesce(c.in_campaigns, 0) - coalesce(r.in_replies, 0)) AS DOUBLE) AS metric,
       CAST(t.guard_interested_mismatch AS DOUBLE) AS threshold
FROM guard_th t LEFT JOIN c USING (workspace_id) LEFT JOIN r USING (workspace_id)
WHERE abs(coalesce(c.in_campaigns, 0) - coalesce(r.in_replies, 0)) > t.guard_interested_mismatch
"""

# Work that runs unattended, by the job kind that does it.
UNATTENDED_JOBS = {
    "sync.bison": "Email Bison sync",
    "sync.stripe": "Stripe sync",
    "crm.deliver": "CRM delivery",
    "pipeline.process_all": "Pipeline for every client",
    "pipeline.evergreen": "Monday evergreen step",
    "reports.send": "Weekly client reports",
}
_JOB_LABEL = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in UNATTENDED_JOBS.items())
_JOB_KINDS = ", ".join(f"'{k}'" for k in UNATTENDED_JOBS)
JOB_FAILED = f"""
WITH last AS (
    SELECT kind, arg_max(status, created_at) AS status, arg_max(error, created_at) AS error,
           max(created_at) AS last_at, arg_max(requested_by, created_at) AS started_by
    FROM jobs WHERE kind IN ({_JOB_KINDS}) AND status NOT IN ('queued', 'running')
    GROUP BY kind
)
SELECT CAST(NULL AS INTEGER) AS workspace_id,
       CASE WHEN status = 'partial' THEN 'warning' ELSE 'danger' END AS severity,
       'job' AS subject_kind, kind AS subject_id, CASE kind {_JOB_LABEL} END AS subject_name,
       (CASE kind {_JOB_LABEL} END)
         || CASE status WHEN 'partial' THEN ' partly failed' ELSE ' failed' END AS title,
       printf('The last run (%s, started by %s) ended %s: %s. It clears when a run succeeds.',
              strftime(last_at, '%b %-d %H:%M UTC'), started_by, status,
              coalesce(error, 'no reason recorded')) AS explanation,
       CAST(NULL AS DOUBLE) AS metric, CAST(NULL AS DOUBLE) AS threshold
FROM last WHERE status IN ('failed', 'partial')
"""

# What the webhook receiver last reported (recorded by the webhook ingest; one row at most).
WEBHOOK_FOLDER_FULL = """
SELECT CAST(NULL AS INTEGER) AS workspace_id, 'danger' AS severity, 'receiver' AS subject_kind,
       'bison_webhooks' AS subject_id, 'Email Bison webhook receiver' AS subject_name,
       printf('Webhook receiver refusing events: %d refused, its folder is full', episode_refused) AS title,
       printf('Since %s the webhook receiver has answered 503 (send again later) to %d events: '
              || 'its folder held %.1f MB, over webhook_folder_max_mb (%.0f MB). Email Bison is asked '
              || 'to retry; the app''s sync takes the folder in and the sync catches up on replies. '
              || 'Check that the LeadOps server runs and syncs, or raise the limit. It clears when '
              || 'the receiver accepts an event again.',
              strftime(refusing_since, '%b %-d %H:%M UTC'), episode_refused,
              coalesce(folder_bytes, 0) / 1048576.0, coalesce(folder_max_bytes, 0) / 1048576.0) AS explanation,
       coalesce(folder_bytes, 0) / 1048576.0 AS metric, folder_max_bytes / 1048576.0 AS threshold
FROM webhook_receiver_status WHERE refusing_since IS NOT NULL
"""

RATE = ("guard_rate_window_days", "guard_rate_min_sends")
CHECKS: dict[str, Check] = {
    c.name: c
    for c in [
        Check(
            "campaign_bounce_rate",
            "Campaign bounce rate",
            "danger",
            ("guard_bounce_rate", *RATE, "guard_auto_pause"),
            "Bounces per email sent over the rolling window, per campaign.",
            _campaign_rate("bounced", "Bounce", "guard_bounce_rate"),
        ),
        Check(
            "campaign_unsubscribe_rate",
            "Campaign unsubscribe rate",
            "danger",
            ("guard_unsubscribe_rate", *RATE),
            "Unsubscribes per email sent over the rolling window, per campaign.",
            _campaign_rate("unsubscribed", "Unsubscribe", "guard_unsubscribe_rate"),
        ),
        Check(
            "sender_bounce_rate",
            "Sending account bounce rate",
            "danger",
            ("guard_bounce_rate", *RATE, "guard_auto_pause_senders"),
            "Bounces per email sent over the rolling window, per sending account.",
            _sender_rate("bounced", "Bounce", "guard_bounce_rate"),
        ),
        Check(
            "sender_unsubscribe_rate",
            "Sending account unsubscribe rate",
            "danger",
            ("guard_unsubscribe_rate", *RATE),
            "Unsubscribes per email sent over the rolling window, per sending account.",
            _sender_rate("unsubscribed", "Unsubscribe", "guard_unsubscribe_rate"),
        ),
        Check(
            "campaign_not_sending",
            "Campaign not sending",
            "danger",
            ("guard_not_sending_hours",),
            "Active campaigns with no sends for N hours, with the reason found.",
            CAMPAIGN_NOT_SENDING,
        ),
        Check(
            "leads_running_out",
            "Leads running out",
            "warning",
            ("guard_leads_days_left",),
            "Days of uncontacted leads left at the current pace of new leads a day.",
            LEADS_RUNNING_OUT,
        ),
        Check(
            "renewal_batch_late",
            "Renewal batch not uploaded",
            "danger",
            ("guard_batch_notice_days", "campaign_lead_days"),
            "The next renewal window's batch not uploaded by the Monday its mailing starts.",
            RENEWAL_BATCH_LATE,
        ),
        Check(
            "kpi_pacing",
            "KPI pacing",
            "warning",
            ("kpi_warning_ratio", "kpi_danger_ratio", "guard_pacing_grace_days"),
            "Interested replies month-to-date behind the expected-by-today line.",
        ),
        Check(
            "sender_disconnected_in_use",
            "Disconnected account in active campaigns",
            "danger",
            (),
            "Disconnected sending accounts still attached to active campaigns.",
            SENDER_DISCONNECTED,
        ),
        Check(
            "sender_unused",
            "Sending account unused",
            "warning",
            ("guard_sender_unused_days",),
            "Connected sending accounts that have sent nothing for N days.",
            SENDER_UNUSED,
        ),
        Check(
            "sending_below_plan",
            "Sending below the package's plan",
            "warning",
            ("guard_plan_use_ratio",),
            "Emails sent a day (7-day average) far below the package's plan.",
            SENDING_BELOW_PLAN,
        ),
        Check(
            "sync_stale",
            "Sync source stale",
            "warning",
            ("guard_sync_stale_hours",),
            "A sync source that has not succeeded for N hours.",
            SYNC_STALE,
        ),
        Check(
            "job_failed",
            "Unattended work failed",
            "danger",
            (),
            "The last sync, CRM delivery, pipeline or report run (scheduled, from the command"
            " line or a page) failed or partly failed, or the scheduler could not start it.",
            JOB_FAILED,
        ),
        Check(
            "interested_mismatch",
            "Interested count disagrees",
            "warning",
            ("guard_interested_mismatch",),
            "Interested count in the campaigns against the interested replies.",
            INTERESTED_MISMATCH,
        ),
        Check(
            "debounce_credits_low",
            "Debounce credits low",
            "warning",
            (),
            "Debounce's credit balance (as last read) is below what the next verification runs"
            " need.",
            checks_credits.DEBOUNCE_CREDITS_LOW,
        ),
        Check(
            "webhook_folder_full",
            "Webhook receiver refusing events",
            "danger",
            (),
            "The webhook receiver answers 503 because over webhook_folder_max_mb of events wait.",
            WEBHOOK_FOLDER_FULL,
        ),
        Check(
            "no_sending_today",
            "No email sent today",
            "warning",
            (),
            "A weekday past mid-day in the client's time zone with nothing sent yet by its active"
            " campaigns, as of a sync after mid-day.",
            checks_daily.NO_SENDING_TODAY,
        ),
        Check(
            "next_month_ready",
            "Next month's list behind",
            "warning",
            ("kpi_warning_ratio", "kpi_danger_ratio", "guard_pacing_grace_days"),
            "Refined contacts ready for next month's campaigns behind the Overview's line (the"
            " volume plan spread over this month).",
        ),
        Check(
            "invoice_overdue",
            "Bill unpaid past its due date",
            "warning",
            ("guard_invoice_due_days",),
            "A client's open Stripe invoice with money left to pay past its due date (danger at"
            " twice the term).",
            checks_daily.INVOICE_OVERDUE,
        ),
    ]
}

GUARD_SETTINGS = sorted({s for c in CHECKS.values() for s in c.settings})
