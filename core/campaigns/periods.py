"""Campaign rates over a chosen window of days (lifetime rates of ~1% cannot rank campaigns)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database

DEFAULT_DAYS = 30


def complete_days(today: dt.date, days: int = DEFAULT_DAYS) -> tuple[dt.date, dt.date]:
    """The last `days` complete days before `today` (today is still sending): (first, last)."""
    if days < 1:
        raise ValueError(f"A window needs at least one day, not {days}.")
    last = today - dt.timedelta(days=1)
    return last - dt.timedelta(days=days - 1), last


def window_label(start: dt.date, end: dt.date) -> str:
    """'Nov 7 – Dec 6' (years shown when the window spans two, or is not this year's)."""
    if start.year != end.year:
        return f"{start:%b %-d, %Y} – {end:%b %-d, %Y}"
    if start == end:
        return f"{start:%b %-d}"
    return f"{start:%b %-d} – {end:%b %-d}"


def campaign_rates(db: Database, scope: Scope, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Per campaign in scope, what it did between `start` and `end` (both included), from the
    day-by-day stats: workspace_id, id, sent, replies, interested, bounced, bounce_rate and
    reply_rate (per email sent), interested_rate (interested per reply). Campaigns without a day
    in the window have zero counts and null rates."""
    if end < start:
        raise ValueError(f"The window ends ({end}) before it starts ({start}).")
    return db.query(
        f"""
        WITH d AS (
            SELECT workspace_id, campaign_id, sum(sent) AS sent, sum(replies) AS replies,
                   sum(interested) AS interested, sum(bounced) AS bounced
            FROM bison_campaign_daily
            WHERE {scope.filter("workspace_id")} AND day BETWEEN ? AND ?
            GROUP BY ALL
        )
        SELECT c.workspace_id, c.id, coalesce(d.sent, 0)::BIGINT AS sent,
               coalesce(d.replies, 0)::BIGINT AS replies,
               coalesce(d.interested, 0)::BIGINT AS interested,
               coalesce(d.bounced, 0)::BIGINT AS bounced,
               round(d.bounced / nullif(d.sent, 0), 4) AS bounce_rate,
               round(d.replies / nullif(d.sent, 0), 4) AS reply_rate,
               round(d.interested / nullif(d.replies, 0), 4) AS interested_rate
        FROM bison_campaigns c
        LEFT JOIN d ON d.workspace_id = c.workspace_id AND d.campaign_id = c.id
        WHERE {scope.filter("c.workspace_id")}
        ORDER BY c.workspace_id, c.id
        """,
        [start, end],
    )


def with_window(campaigns: pl.DataFrame, window: pl.DataFrame) -> pl.DataFrame:
    """`campaigns` (a `list_campaigns` frame) with the counts and rates of `window` (a
    `campaign_rates` frame) instead of its lifetime ones; the columns and row order stay."""
    counts = ["sent", "replies", "interested", "bounced"]
    rates = ["bounce_rate", "reply_rate", "interested_rate"]
    window = window.select("workspace_id", "id", *counts, *rates)
    return (
        campaigns.drop(counts + rates)
        .join(window, on=["workspace_id", "id"], how="left", maintain_order="left")
        .with_columns(pl.col(c).fill_null(0) for c in counts)
        .select(campaigns.columns)
    )
