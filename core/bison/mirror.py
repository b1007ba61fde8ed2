"""The one writer of the Email Bison mirror (`bison_*` tables): each table's columns, key and merge
rule live here, and the sync, the webhook ingest and the actions taken from pages (pause a campaign,
mark a reply interested, change a schedule) all write through these functions, so a row means the
same whichever path brought it.

Every function takes the caller's cursor inside the caller's transaction: a sync commits a
resource's rows together with its cursor, an action together with its audit entry.
`bison_webhook_events` is the receiver's own log, written by core/bison/ingest.py.

Merge rules:
* Campaigns, leads, sending accounts: upsert by key; a listing's row replaces the stored one.
* Replies: the key is (workspace_id, id). A value the incoming record lacks (NULL) never erases
  a stored one. `interested` follows the evidence: a reply listing or an interested /
  not-interested event is Email Bison's word (`INTERESTED_SOURCE`); a reply-received event only
  ever adds the flag (`INTERESTED_STICKY`). `category` follows the flags (interested →
  'interested', automated → 'auto_reply') and otherwise keeps the classifier's category.
* Per-campaign children (steps, senders, schedules) are replaced for the campaigns given; per-day
  series are upserted by day; tags are replaced per workspace.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core.platform.store import fetch_one, insert_frame
from core.platform.sync_store import TS, upsert

INTERESTED_SOURCE = "source"
INTERESTED_STICKY = "sticky"
_REPLY_DEFAULTS = {"interested": "false", "automated_reply": "false", "read": "false"}
_REPLY_DEFAULTS_TEXT = {"folder": "'Inbox'", "synced_at": "now()"}

# -- the tables' columns, as typed frames ------------------------------------------------------

CAMPAIGN_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "uuid": pl.Utf8,
    "name": pl.Utf8,
    "type": pl.Utf8,
    "status": pl.Utf8,
    "emails_sent": pl.Int64,
    "opened": pl.Int64,
    "unique_opens": pl.Int64,
    "replied": pl.Int64,
    "unique_replies": pl.Int64,
    "bounced": pl.Int64,
    "unsubscribed": pl.Int64,
    "interested": pl.Int64,
    "total_leads_contacted": pl.Int64,
    "total_leads": pl.Int64,
    "max_emails_per_day": pl.Int32,
    "max_new_leads_per_day": pl.Int32,
    "created_at": TS,
    "updated_at": TS,
    "synced_at": TS,
}
STEP_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "campaign_id": pl.Int64,
    "step_order": pl.Int32,
    "email_subject": pl.Utf8,
    "email_body": pl.Utf8,
    "wait_in_days": pl.Int32,
    "variant": pl.Boolean,
    "variant_of_step_id": pl.Int64,
    "thread_reply": pl.Boolean,
    "active": pl.Boolean,
    "synced_at": TS,
}
DAILY_SCHEMA = {
    "workspace_id": pl.Int32,
    "campaign_id": pl.Int64,
    "day": pl.Date,
    "sent": pl.Int64,
    "opens": pl.Int64,
    "replies": pl.Int64,
    "interested": pl.Int64,
    "bounced": pl.Int64,
    "unsubscribed": pl.Int64,
}
STEP_STATS_SCHEMA = {
    "workspace_id": pl.Int32,
    "campaign_id": pl.Int64,
    "step_id": pl.Int64,
    "day": pl.Date,
    "sent": pl.Int64,
    "opened": pl.Int64,
    "replied": pl.Int64,
    "interested": pl.Int64,
    "bounced": pl.Int64,
    "unsubscribed": pl.Int64,
}
REPLY_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "uuid": pl.Utf8,
    "campaign_id": pl.Int64,
    "lead_id": pl.Int64,
    "sender_email_id": pl.Int64,
    "scheduled_email_id": pl.Int64,
    "folder": pl.Utf8,
    "subject": pl.Utf8,
    "text_body": pl.Utf8,
    "from_name": pl.Utf8,
    "from_email": pl.Utf8,
    "to_email": pl.Utf8,
    "interested": pl.Boolean,
    "automated_reply": pl.Boolean,
    "read": pl.Boolean,
    "type": pl.Utf8,
    "category": pl.Utf8,
    "date_received": TS,
    "created_at": TS,
    "updated_at": TS,
    "synced_at": TS,
}
LEAD_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "email": pl.Utf8,
    "first_name": pl.Utf8,
    "last_name": pl.Utf8,
    "company": pl.Utf8,
    "status": pl.Utf8,
    "campaign_status": pl.Utf8,
    "emails_sent": pl.Int32,
    "replies": pl.Int32,
    "custom_variables": pl.Utf8,
    "created_at": TS,
    "updated_at": TS,
    "synced_at": TS,
}
CAMPAIGN_SENDER_SCHEMA = {
    "workspace_id": pl.Int32,
    "campaign_id": pl.Int64,
    "sender_email_id": pl.Int64,
}
SENDER_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "email": pl.Utf8,
    "name": pl.Utf8,
    "type": pl.Utf8,
    "status": pl.Utf8,
    "daily_limit": pl.Int32,
    "warmup_enabled": pl.Boolean,
    "emails_sent_count": pl.Int64,
    "total_replied_count": pl.Int64,
    "bounced_count": pl.Int64,
    "unsubscribed_count": pl.Int64,
    "interested_leads_count": pl.Int64,
    "created_at": TS,
    "updated_at": TS,
    "synced_at": TS,
}
SCHEDULE_SCHEMA = {
    "workspace_id": pl.Int32,
    "campaign_id": pl.Int64,
    "days": pl.List(pl.Utf8),
    "start_time": pl.Time,
    "end_time": pl.Time,
    "timezone": pl.Utf8,
    "synced_at": TS,
}


def _ids(values: list[int]) -> str:
    return ", ".join(str(int(i)) for i in values) or "NULL"


# -- campaigns ---------------------------------------------------------------------------------


_CAMPAIGN_IDENTITY = ("workspace_id", "id", "uuid", "name", "type", "status", "updated_at")


def campaign_row(
    c: Any, workspace_id: int, synced_at: dt.datetime, *, counters: bool = True
) -> dict[str, Any]:
    """A `bison_campaigns` row from a connector `Campaign`. A listing carries the counters; an
    action's answer (pause, resume, duplicate) is trusted for identity and status only
    (`counters=False`), so it never zeroes counters it did not send."""
    row = {
        "workspace_id": workspace_id,
        "id": c.id,
        "uuid": c.uuid,
        "name": c.name,
        "type": c.type,
        "status": (c.status or "").lower(),
        "emails_sent": c.emails_sent,
        "opened": c.opened,
        "unique_opens": c.unique_opens,
        "replied": c.replied,
        "unique_replies": c.unique_replies,
        "bounced": c.bounced,
        "unsubscribed": c.unsubscribed,
        "interested": c.interested,
        "total_leads_contacted": c.total_leads_contacted,
        "total_leads": c.total_leads,
        "max_emails_per_day": c.max_emails_per_day,
        "max_new_leads_per_day": c.max_new_leads_per_day,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "synced_at": synced_at,
    }
    if not counters:
        row = {k: row[k] for k in (*_CAMPAIGN_IDENTITY, "synced_at")}
    return row


def upsert_campaigns(cur: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> int:
    """Upsert by (workspace_id, id); the columns the rows carry replace the stored ones."""
    cols = list(rows[0]) if rows else list(CAMPAIGN_SCHEMA)
    df = pl.DataFrame(rows, schema={c: CAMPAIGN_SCHEMA[c] for c in cols}, orient="row")
    return upsert(cur, "bison_campaigns", df, ["workspace_id", "id"])


def mark_campaigns_deleted(
    cur: duckdb.DuckDBPyConnection, workspace_id: int, listed_ids: list[int], now: dt.datetime
) -> None:
    """Campaigns gone from Email Bison's listing are kept, marked deleted."""
    if not listed_ids:
        return
    cur.execute(
        "UPDATE bison_campaigns SET status = 'deleted', synced_at = ? WHERE workspace_id = ?"
        f" AND status <> 'deleted' AND id NOT IN ({_ids(listed_ids)})",
        [now, workspace_id],
    )


def replace_campaign_details(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: int,
    campaign_ids: list[int],
    *,
    steps: pl.DataFrame,
    daily: pl.DataFrame,
    step_stats: pl.DataFrame,
    senders: pl.DataFrame,
    schedules: pl.DataFrame,
) -> None:
    """The given campaigns' steps, sending accounts and schedules as now; per-day series merged."""
    ids = _ids(campaign_ids)
    cur.execute(
        f"DELETE FROM bison_sequence_steps WHERE workspace_id = ? AND campaign_id IN ({ids})",
        [workspace_id],
    )
    insert_frame(cur, "bison_sequence_steps", steps)
    upsert(cur, "bison_campaign_daily", daily, ["workspace_id", "campaign_id", "day"])
    upsert(cur, "bison_step_stats", step_stats, ["workspace_id", "step_id", "day"])
    cur.execute(
        "DELETE FROM bison_campaign_sender_emails WHERE workspace_id = ?"
        f" AND campaign_id IN ({ids})",
        [workspace_id],
    )
    insert_frame(cur, "bison_campaign_sender_emails", senders)
    replace_schedules(cur, workspace_id, campaign_ids, schedules)


def replace_schedules(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: int,
    campaign_ids: list[int],
    schedules: pl.DataFrame,
) -> None:
    """The given campaigns' sending schedules as now (a campaign without one has no row)."""
    cur.execute(
        "DELETE FROM bison_campaign_schedules WHERE workspace_id = ?"
        f" AND campaign_id IN ({_ids(campaign_ids)})",
        [workspace_id],
    )
    insert_frame(cur, "bison_campaign_schedules", schedules)


def schedule_frame(
    workspace_id: int, campaign_id: int, schedule: Any, synced_at: dt.datetime
) -> pl.DataFrame:
    """One campaign's schedule (a connector `Schedule`, or None) as `bison_campaign_schedules` rows."""
    rows = []
    if schedule is not None:
        rows.append(
            {
                "workspace_id": workspace_id,
                "campaign_id": campaign_id,
                "days": list(schedule.days),
                "start_time": schedule.start_time,
                "end_time": schedule.end_time,
                "timezone": schedule.timezone,
                "synced_at": synced_at,
            }
        )
    return pl.DataFrame(rows, schema=SCHEDULE_SCHEMA, orient="row")


# -- replies -----------------------------------------------------------------------------------


def upsert_replies(
    cur: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, interested: str = INTERESTED_SOURCE
) -> int:
    """Merge replies by (workspace_id, id) under the rule in this module's docstring."""
    if rows.height == 0:
        return 0
    if interested not in (INTERESTED_SOURCE, INTERESTED_STICKY):
        raise ValueError(f"interested must be {INTERESTED_SOURCE!r} or {INTERESTED_STICKY!r}")
    rows = rows.unique(subset=["workspace_id", "id"], keep="last", maintain_order=True)
    cols = [c for c in rows.columns if c != "category"]
    keep = [c for c in cols if c not in ("workspace_id", "id", "interested")]
    flag = (
        "coalesce(r.interested, t.interested)"
        if interested == INTERESTED_SOURCE
        else "t.interested OR coalesce(r.interested, false)"
    )
    sets = [f"{c} = coalesce(r.{c}, t.{c})" for c in keep if c != "synced_at"]
    sets += [f"interested = {flag}" if "interested" in cols else "interested = t.interested"]
    sets += ["synced_at = " + ("coalesce(r.synced_at, now())" if "synced_at" in cols else "now()")]
    defaults = {**_REPLY_DEFAULTS, **_REPLY_DEFAULTS_TEXT}
    insert_cols = cols + [c for c in ("synced_at",) if c not in cols]
    values = [
        f"coalesce(r.{c}, {defaults[c]})"
        if c in defaults and c in cols
        else (defaults[c] if c not in cols else f"r.{c}")
        for c in insert_cols
    ]
    match = "t.workspace_id = r.workspace_id AND t.id = r.id"
    cur.register("_reply_rows", rows.to_arrow())
    try:
        cur.execute(
            f"UPDATE bison_replies t SET {', '.join(sets)} FROM _reply_rows r WHERE {match}"
        )
        cur.execute(
            f"INSERT INTO bison_replies ({', '.join(insert_cols)})"
            f" SELECT {', '.join(values)} FROM _reply_rows r"
            f" WHERE NOT EXISTS (SELECT 1 FROM bison_replies t WHERE {match})"
        )
        _refresh_category(
            cur,
            "(workspace_id, id) IN (SELECT (workspace_id, id) FROM _reply_rows)",
            [],
        )
    finally:
        cur.unregister("_reply_rows")
    return rows.height


def _refresh_category(cur: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> None:
    """Keep `category` in step with the flags; the classifier's other categories stay."""
    cur.execute(
        "UPDATE bison_replies SET category = CASE WHEN interested THEN 'interested'"
        " WHEN automated_reply THEN 'auto_reply' END"
        f" WHERE ({where}) AND (interested OR category IS NULL"
        " OR category IN ('interested', 'auto_reply'))",
        params,
    )


def set_reply_interested(
    cur: duckdb.DuckDBPyConnection, workspace_id: int, reply_id: int, value: bool
) -> None:
    """Email Bison's interested flag on one reply (a staff action or an event naming the reply)."""
    cur.execute(
        "UPDATE bison_replies SET interested = ?, updated_at = now(), synced_at = now()"
        " WHERE workspace_id = ? AND id = ?",
        [value, workspace_id, reply_id],
    )
    _refresh_category(cur, "workspace_id = ? AND id = ?", [workspace_id, reply_id])


def set_lead_replies_interested(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: int,
    lead_id: int,
    campaign_id: int | None,
    value: bool,
) -> bool:
    """An interested / not-interested event that names a lead (not a reply): marking sets the
    lead's newest inbound reply; unmarking clears them all. False when the mirror has none yet."""
    scope = (
        "workspace_id = ? AND lead_id = ? AND (CAST(? AS BIGINT) IS NULL OR campaign_id = ?)"
        " AND coalesce(folder, 'Inbox') <> 'Sent'"
    )
    params = [workspace_id, lead_id, campaign_id, campaign_id]
    target = fetch_one(
        cur, f"SELECT id FROM bison_replies WHERE {scope} ORDER BY date_received DESC", params
    )
    if target is None:
        return False
    if value:
        cur.execute(
            "UPDATE bison_replies SET interested = true, synced_at = now()"
            " WHERE workspace_id = ? AND id = ?",
            [workspace_id, target[0]],
        )
    else:
        cur.execute(
            f"UPDATE bison_replies SET interested = false, synced_at = now() WHERE {scope}", params
        )
    _refresh_category(cur, scope, params)
    return True


def mark_reply_read(cur: duckdb.DuckDBPyConnection, workspace_id: int, reply_id: int) -> None:
    cur.execute(
        "UPDATE bison_replies SET read = true WHERE workspace_id = ? AND id = ?",
        [workspace_id, reply_id],
    )


# -- leads, sending accounts, tags -------------------------------------------------------------


def upsert_leads(cur: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> int:
    return upsert(cur, "bison_leads", rows, ["workspace_id", "id"])


def set_lead_status(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: int,
    lead_id: int,
    status: str,
    lead: dict[str, Any],
) -> bool:
    """A lead's status from an event; a lead the mirror lacks is added when the event carries its
    email. False when neither is possible."""
    found = fetch_one(
        cur,
        "UPDATE bison_leads SET status = ?, synced_at = now() WHERE workspace_id = ? AND id = ?"
        " RETURNING id",
        [status, workspace_id, lead_id],
    )
    if found is not None:
        return True
    if not lead.get("email"):
        return False
    cur.execute(
        "INSERT INTO bison_leads (workspace_id, id, email, first_name, last_name, company, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            workspace_id,
            lead_id,
            lead["email"],
            lead.get("first_name"),
            lead.get("last_name"),
            lead.get("company"),
            status,
        ],
    )
    return True


def upsert_senders(cur: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> int:
    df = pl.DataFrame(rows, schema=SENDER_SCHEMA, orient="row")
    return upsert(cur, "bison_sender_emails", df, ["workspace_id", "id"])


SENDER_SETTINGS = ("daily_limit", "warmup_enabled")


def set_sender_settings(
    cur: duckdb.DuckDBPyConnection, workspace_id: int, sender_ids: list[int], **values: Any
) -> None:
    """What an action changed in Email Bison (daily limit, warm-up on or off) on the mirrored
    accounts, so the page shows it before the next sync reads it back."""
    bad = set(values) - set(SENDER_SETTINGS)
    if bad:
        raise ValueError(f"not a sending-account setting: {sorted(bad)}")
    if not values or not sender_ids:
        return
    sets = ", ".join(f"{name} = ?" for name in values)
    cur.execute(
        f"UPDATE bison_sender_emails SET {sets}, synced_at = now()"
        " WHERE workspace_id = ? AND list_contains(?, id)",
        [*values.values(), workspace_id, [int(i) for i in sender_ids]],
    )


def apply_sender_event(
    cur: duckdb.DuckDBPyConnection,
    workspace_id: int,
    sender: dict[str, Any],
    *,
    status: str,
    changes_status: bool,
) -> bool:
    """A sending account seen in an event. A known account takes the status unless the mirror
    holds a newer record; an unknown one is added when the event carries its email."""
    known = fetch_one(
        cur,
        "SELECT updated_at FROM bison_sender_emails WHERE workspace_id = ? AND id = ?",
        [workspace_id, sender["id"]],
    )
    updated = sender.get("updated_at")
    if known is not None:
        if changes_status and not (updated and known[0] and known[0] > updated):
            cur.execute(
                "UPDATE bison_sender_emails SET status = ?, updated_at = coalesce(?, updated_at),"
                " synced_at = now() WHERE workspace_id = ? AND id = ?",
                [status, updated, workspace_id, sender["id"]],
            )
        return True
    if not sender.get("email"):
        return False
    cur.execute(
        "INSERT INTO bison_sender_emails (workspace_id, id, email, name, type, status, daily_limit,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            workspace_id,
            sender["id"],
            sender["email"],
            sender.get("name"),
            sender.get("type"),
            status,
            sender.get("daily_limit"),
            sender.get("created_at"),
            updated,
        ],
    )
    return True


def replace_tags(cur: duckdb.DuckDBPyConnection, workspace_id: int, tags: pl.DataFrame) -> None:
    cur.execute("DELETE FROM bison_tags WHERE workspace_id = ?", [workspace_id])
    insert_frame(cur, "bison_tags", tags)


TAG_SCHEMA = {
    "workspace_id": pl.Int32,
    "id": pl.Int64,
    "name": pl.Utf8,
    "is_default": pl.Boolean,
    "synced_at": TS,
}


def forget_person(
    cur: duckdb.DuckDBPyConnection, workspace_id: int, email_key: str, lead_ids: list[int]
) -> dict[str, Any]:
    """A deletion request: drop a person's leads and their replies from the mirror (by lead id
    or address). Returns how many rows of each went."""
    ids = [int(i) for i in lead_ids]
    replies = cur.execute(
        "DELETE FROM bison_replies WHERE workspace_id = ? AND (list_contains(?, lead_id)"
        " OR lower(trim(from_email)) = ?) RETURNING id",
        [workspace_id, ids, email_key],
    ).fetchall()
    leads = cur.execute(
        "DELETE FROM bison_leads WHERE workspace_id = ? AND (list_contains(?, id)"
        " OR lower(trim(email)) = ?) RETURNING id",
        [workspace_id, ids, email_key],
    ).fetchall()
    return {"replies": len(replies), "leads": len(leads), "reply_ids": [r[0] for r in replies]}
