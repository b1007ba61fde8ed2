"""Mirror tables of external systems: typed frames, upserts by primary key, and sync cursors.

A cursor is committed in the same transaction as the rows it covers (see core/bison_sync.py).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from core.store import Database


def upsert(cur, table: str, df: pl.DataFrame, keys: list[str]) -> int:
    """Insert rows, updating the given columns of rows whose key exists (other columns kept)."""
    if df.height == 0:
        return 0
    df = df.unique(subset=keys, keep="last", maintain_order=True)
    cols = df.columns
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    cur.register("_upsert_rows", df.to_arrow())
    try:
        cur.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _upsert_rows "
            f"ON CONFLICT ({', '.join(keys)}) DO "
            + (f"UPDATE SET {updates}" if updates else "NOTHING")
        )
    finally:
        cur.unregister("_upsert_rows")
    return df.height


def get_cursor(db: Database, workspace_id: int, resource: str, source: str = "bison") -> str | None:
    return db.scalar(
        "SELECT cursor_value FROM sync_cursors WHERE source = ? AND workspace_id = ? AND resource = ?",
        [source, workspace_id, resource],
    )


def set_cursor(cur, workspace_id: int, resource: str, value: str, source: str = "bison") -> None:
    cur.execute(
        "INSERT INTO sync_cursors (source, workspace_id, resource, cursor_value, updated_at)"
        " VALUES (?, ?, ?, ?, now()) ON CONFLICT (source, workspace_id, resource)"
        " DO UPDATE SET cursor_value = excluded.cursor_value, updated_at = excluded.updated_at",
        [source, workspace_id, resource, value],
    )


def frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


TS = pl.Datetime("us", "UTC")
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
