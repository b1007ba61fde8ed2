"""Campaigns and sending accounts: the queries behind their pages, and actions through Email Bison."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from connectors.bison import BisonClient
from connectors.http import ApiError
from core.accounts import access
from core.bison import mirror
from core.campaigns import preflight
from core.platform import audit, connections
from core.platform.scope import Scope
from core.platform.store import Database

ACTIONS = ("pause", "resume", "duplicate")


class CampaignActionError(RuntimeError):
    pass


def list_campaigns(
    db: Database, scope: Scope, *, status: str | None = None, search: str | None = None
) -> pl.DataFrame:
    where, params = [scope.filter("c.workspace_id")], []
    if status:
        where.append("c.status = ?")
        params.append(status)
    if search:
        where.append("c.name ILIKE ?")
        params.append(f"%{search}%")
    return db.query(
        f"""
        SELECT c.workspace_id, c.id, w.name AS client, c.name AS campaign, c.status, c.total_leads AS leads,
               c.total_leads_contacted AS contacted, c.emails_sent AS sent, c.unique_opens AS opens,
               c.replied AS replies, c.interested, c.bounced, c.unsubscribed,
               round(c.bounced / nullif(c.emails_sent, 0), 4) AS bounce_rate,
               round(c.replied / nullif(c.emails_sent, 0), 4) AS reply_rate,
               round(c.interested / nullif(c.replied, 0), 4) AS interested_rate,
               c.updated_at, c.synced_at
        FROM bison_campaigns c JOIN workspaces w ON w.id = c.workspace_id
        WHERE {" AND ".join(where)}
        ORDER BY CASE c.status WHEN 'active' THEN 0 WHEN 'paused' THEN 1 ELSE 2 END, w.name, c.name
        """,
        params,
    )


def campaign_statuses(db: Database, scope: Scope) -> list[str]:
    return [
        r[0]
        for r in db.rows(
            f"SELECT DISTINCT status FROM bison_campaigns WHERE {scope.filter()} ORDER BY 1"
        )
    ]


def campaign_daily(
    db: Database, scope: Scope, workspace_id: int, campaign_id: int, start: dt.date, end: dt.date
) -> pl.DataFrame:
    if not scope.allows(workspace_id):
        return pl.DataFrame()
    return db.query(
        "SELECT day, sent, opens, replies, interested, bounced, unsubscribed FROM bison_campaign_daily"
        " WHERE workspace_id = ? AND campaign_id = ? AND day BETWEEN ? AND ? ORDER BY day",
        [workspace_id, campaign_id, start, end],
    )


def campaign_steps(db: Database, scope: Scope, workspace_id: int, campaign_id: int) -> pl.DataFrame:
    """Steps with their variants (variant letter A = original), with stats summed over all days,
    and the email body last."""
    if not scope.allows(workspace_id):
        return pl.DataFrame()
    return db.query(
        """
        WITH agg AS (
            SELECT s.step_order AS step, s.variant AS is_variant, s.id AS step_id, s.email_subject AS subject,
                   s.email_body AS body, s.wait_in_days, s.thread_reply, s.active,
                   coalesce(sum(t.sent), 0)::BIGINT AS sent, coalesce(sum(t.replied), 0)::BIGINT AS replies,
                   coalesce(sum(t.interested), 0)::BIGINT AS interested
            FROM bison_sequence_steps s
            LEFT JOIN bison_step_stats t ON t.workspace_id = s.workspace_id AND t.step_id = s.id
            WHERE s.workspace_id = ? AND s.campaign_id = ?
            GROUP BY ALL
        )
        SELECT step, chr(CAST(64 + row_number() OVER (PARTITION BY step ORDER BY is_variant, step_id) AS INTEGER)) AS variant,
               step_id, subject, wait_in_days, thread_reply, active, sent, replies, interested,
               round(replies / nullif(sent, 0), 4) AS reply_rate, round(interested / nullif(sent, 0), 4) AS interested_rate,
               body
        FROM agg ORDER BY step, variant
        """,
        [workspace_id, campaign_id],
    )


def campaign_senders(
    db: Database, scope: Scope, workspace_id: int, campaign_id: int
) -> pl.DataFrame:
    if not scope.allows(workspace_id):
        return pl.DataFrame()
    return db.query(
        "SELECT s.email, s.status, s.daily_limit, s.emails_sent_count AS sent, s.bounced_count AS bounced"
        " FROM bison_campaign_sender_emails l JOIN bison_sender_emails s"
        " ON s.workspace_id = l.workspace_id AND s.id = l.sender_email_id"
        " WHERE l.workspace_id = ? AND l.campaign_id = ? ORDER BY s.email",
        [workspace_id, campaign_id],
    )


def sender_accounts(db: Database, scope: Scope, *, bounce_threshold: float = 0.03) -> pl.DataFrame:
    """Every sending account with its client, use, warm-up and health flags, worst trouble first:
    disconnected yet in active campaigns, bouncing, disconnected, other flags, then the rest."""
    return db.query(
        f"""
        WITH camp AS (
            SELECT l.workspace_id, l.sender_email_id, count(*) AS campaigns,
                   count(*) FILTER (WHERE c.status = 'active') AS active_campaigns
            FROM bison_campaign_sender_emails l
            JOIN bison_campaigns c ON c.workspace_id = l.workspace_id AND c.id = l.campaign_id
            WHERE {scope.filter("l.workspace_id")} GROUP BY ALL
        )
        SELECT s.workspace_id, s.id, w.name AS client, s.email, s.name,
               CASE WHEN p.sender_email_id IS NOT NULL THEN 'paused' ELSE s.status END AS status,
               s.daily_limit, p.previous_daily_limit AS resumes_with,
               s.warmup_enabled, s.warmup_score, s.emails_sent_count AS sent, s.total_replied_count AS replies,
               s.bounced_count AS bounced, round(s.bounced_count / nullif(s.emails_sent_count, 0), 4) AS bounce_rate,
               coalesce(camp.campaigns, 0) AS campaigns, coalesce(camp.active_campaigns, 0) AS active_campaigns,
               concat_ws(', ',
                 CASE WHEN s.status = 'disconnected' THEN 'disconnected' END,
                 CASE WHEN s.status = 'disconnected' AND camp.active_campaigns > 0 THEN 'in active campaigns' END,
                 CASE WHEN s.bounced_count / nullif(s.emails_sent_count, 0) > $threshold THEN 'bounce rate high' END,
                 CASE WHEN s.warmup_score < 70 THEN 'warm-up low' END) AS flags,
               s.synced_at
        FROM bison_sender_emails s JOIN workspaces w ON w.id = s.workspace_id
        LEFT JOIN camp ON camp.workspace_id = s.workspace_id AND camp.sender_email_id = s.id
        LEFT JOIN sender_pauses p ON p.workspace_id = s.workspace_id AND p.sender_email_id = s.id
             AND coalesce(s.daily_limit, 0) = 0
        WHERE {scope.filter("s.workspace_id")}
        ORDER BY CASE WHEN s.status = 'disconnected' AND camp.active_campaigns > 0 THEN 0
                      WHEN s.bounced_count / nullif(s.emails_sent_count, 0) > $threshold THEN 1
                      WHEN s.status = 'disconnected' THEN 2
                      WHEN flags <> '' THEN 3 ELSE 4 END,
                 w.name, s.email
        """,
        {"threshold": bounce_threshold},
    )


def sender_summary(db: Database, scope: Scope) -> dict[str, Any]:
    row = db.rows(
        f"""
        SELECT count(*), count(*) FILTER (WHERE status = 'connected'), count(*) FILTER (WHERE status = 'disconnected'),
               coalesce(sum(daily_limit) FILTER (WHERE status = 'connected'), 0),
               round(sum(bounced_count) / nullif(sum(emails_sent_count), 0), 4), round(avg(warmup_score), 1)
        FROM bison_sender_emails WHERE {scope.filter()}
        """
    )[0]
    keys = ["accounts", "connected", "disconnected", "daily_capacity", "bounce_rate", "avg_warmup"]
    return dict(zip(keys, row, strict=True))


# -- actions -----------------------------------------------------------------------------------


def _client_for(
    db: Database, workspace_id: int, factory: Callable[[str], BisonClient] | None
) -> BisonClient:
    try:
        return connections.bison_client(db, workspace_id, factory)
    except connections.NotConfigured as exc:
        raise CampaignActionError(str(exc)) from None


def campaign_action(
    db: Database,
    user: access.User,
    workspace_id: int,
    campaign_id: int,
    action: str,
    *,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> dict[str, Any]:
    """Pause, resume or duplicate a campaign in Email Bison, refresh its row and audit it."""
    access.require(user, "campaign.act")
    actor = user.email
    if action not in ACTIONS:
        raise CampaignActionError(f"Unknown action {action!r}.")
    if not user.scope.allows(workspace_id):
        raise CampaignActionError("That campaign belongs to a client you cannot act for.")
    before = db.query(
        "SELECT id, name, status FROM bison_campaigns WHERE workspace_id = ? AND id = ?",
        [workspace_id, campaign_id],
    )
    if before.height == 0:
        raise CampaignActionError(f"No campaign {campaign_id} for this client.")
    if action == "resume":  # whoever asks (page, command line, schedule): never resume to idle
        blocked = preflight.blocking_failures(
            preflight.preflight(db, user.scope, workspace_id, campaign_id)
        )
        if blocked:
            raise CampaignActionError(
                "Not resumed: it would sit idle. "
                + "; ".join(f"{i.name}: {i.detail}" for i in blocked)
            )
    client = _client_for(db, workspace_id, client_factory)
    try:
        fn = {
            "pause": client.pause_campaign,
            "resume": client.resume_campaign,
            "duplicate": client.duplicate_campaign,
        }[action]
        c = fn(int(campaign_id))
    except ApiError as exc:
        raise CampaignActionError(f"Email Bison refused to {action} the campaign: {exc}") from None
    finally:
        client.close()
    row = mirror.campaign_row(c, workspace_id, dt.datetime.now(dt.UTC), counters=False)
    with db.transaction() as cur:
        mirror.upsert_campaigns(cur, [row])
        audit.record(
            cur,
            actor=actor,
            action=f"campaign.{action}",
            entity="campaign",
            entity_id=f"{workspace_id}:{campaign_id}",
            before=before.row(0, named=True),
            after={"id": c.id, "name": c.name, "status": row["status"]},
        )
    return row


def scheduled_emails(
    db: Database,
    user: access.User,
    workspace_id: int,
    campaign_id: int,
    *,
    limit: int = 300,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> pl.DataFrame:
    """A campaign's scheduled emails, read live from Email Bison (they change by the minute)."""
    if not user.scope.allows(workspace_id):
        raise CampaignActionError("That campaign belongs to a client you cannot see.")
    client = _client_for(db, workspace_id, client_factory)
    rows = []
    try:
        for e in client.iter_scheduled_emails(int(campaign_id)):
            rows.append(
                {
                    "scheduled_for": e.scheduled_date,
                    "status": e.status,
                    "lead": e.lead_email,
                    "subject": e.email_subject,
                    "sent_at": e.sent_at,
                    "replies": e.replies,
                    "interested": e.interested,
                }
            )
            if len(rows) >= limit:
                break
    except ApiError as exc:
        raise CampaignActionError(
            f"Email Bison did not return the scheduled emails: {exc}"
        ) from None
    finally:
        client.close()
    return pl.DataFrame(
        rows,
        schema={
            "scheduled_for": pl.Datetime("us", "UTC"),
            "status": pl.Utf8,
            "lead": pl.Utf8,
            "subject": pl.Utf8,
            "sent_at": pl.Datetime("us", "UTC"),
            "replies": pl.Int64,
            "interested": pl.Boolean,
        },
        orient="row",
    )


# -- sending schedule --------------------------------------------------------------------------

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def campaign_schedule(
    db: Database, scope: Scope, workspace_id: int, campaign_id: int
) -> dict[str, Any] | None:
    """The campaign's synced sending schedule (days, start, end, timezone, synced_at) or None."""
    if not scope.allows(workspace_id):
        return None
    rows = db.query(
        "SELECT days, start_time, end_time, timezone, synced_at FROM bison_campaign_schedules"
        " WHERE workspace_id = ? AND campaign_id = ?",
        [workspace_id, campaign_id],
    )
    return rows.row(0, named=True) if rows.height else None


def describe_schedule(schedule: dict[str, Any] | None) -> str:
    """ "Mon–Fri, 08:00–17:00 America/Chicago" in words; runs of days are joined with a dash."""
    if schedule is None:
        return "No sending schedule known (none in Email Bison, or not synced yet)."
    days = [d for d in WEEK if d in set(schedule["days"] or [])]
    if not days:
        return "No sending days: the campaign will not send."
    runs: list[list[int]] = []
    for i in (WEEK.index(d) for d in days):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])

    def run_words(run: list[int]) -> str:
        first, last = WEEK[run[0]][:3].title(), WEEK[run[-1]][:3].title()
        return (
            first if len(run) == 1 else f"{first}, {last}" if len(run) == 2 else f"{first}–{last}"
        )

    words = ", ".join(run_words(r) for r in runs)
    start, end = schedule["start_time"], schedule["end_time"]
    return f"{words}, {start:%H:%M}–{end:%H:%M} {schedule['timezone']}"


def set_campaign_schedule(
    db: Database,
    user: access.User,
    workspace_id: int,
    campaign_id: int,
    *,
    days: list[str],
    start_time: dt.time,
    end_time: dt.time,
    timezone: str,
    client_factory: Callable[[str], BisonClient] | None = None,
) -> dict[str, Any] | None:
    """Change a campaign's sending schedule in Email Bison, store what it reports, audit it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    access.require(user, "campaign.act")
    if not user.scope.allows(workspace_id):
        raise CampaignActionError("That campaign belongs to a client you cannot act for.")
    if not days:
        raise CampaignActionError("Pick at least one sending day.")
    if end_time <= start_time:
        raise CampaignActionError(
            f"The sending window must end after it starts ({start_time:%H:%M}–{end_time:%H:%M})."
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignActionError(f"Unknown time zone {timezone!r}.") from None
    name = db.scalar(
        "SELECT name FROM bison_campaigns WHERE workspace_id = ? AND id = ?",
        [workspace_id, campaign_id],
    )
    if name is None:
        raise CampaignActionError(f"No campaign {campaign_id} for this client.")
    before = campaign_schedule(db, Scope.all(), workspace_id, campaign_id)
    client = _client_for(db, workspace_id, client_factory)
    try:
        s = client.set_campaign_schedule(
            int(campaign_id), days=days, start_time=start_time, end_time=end_time, timezone=timezone
        )
    except (ApiError, ValueError) as exc:
        raise CampaignActionError(f"Email Bison refused the schedule: {exc}") from None
    finally:
        client.close()
    with db.transaction() as cur:
        schedule = mirror.schedule_frame(workspace_id, int(campaign_id), s, dt.datetime.now(dt.UTC))
        mirror.replace_schedules(cur, workspace_id, [int(campaign_id)], schedule)
        audit.record(
            cur,
            actor=user.email,
            action="campaign.schedule",
            entity="campaign",
            entity_id=f"{workspace_id}:{campaign_id}",
            before=None if before is None else describe_schedule(before),
            after=None if s is None else describe_schedule(s.as_dict()),
        )
    return campaign_schedule(db, Scope.all(), workspace_id, campaign_id)
