"""Sync status for pages: when each client last synced, and the history of runs."""

from __future__ import annotations

import json

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database


def last_sync_per_workspace(db: Database, scope: Scope) -> pl.DataFrame:
    return db.query(
        f"""
        SELECT w.id AS workspace_id, w.name AS client,
               max(r.finished_at) FILTER (WHERE r.status = 'succeeded') AS last_success,
               arg_max(r.status, r.started_at) AS last_status,
               arg_max(r.error, r.started_at) AS last_error,
               coalesce('…' || (SELECT last4 FROM secret_refs s
                                WHERE s.name = 'bison.workspace.' || w.id), 'not set') AS token
        FROM workspaces w LEFT JOIN sync_runs r ON r.workspace_id = w.id AND r.source = 'bison'
        WHERE w.active AND {scope.filter("w.id")}
        GROUP BY w.id, w.name ORDER BY last_success NULLS FIRST, w.name
        """
    )


def describe_counts(counts: str | None) -> str | None:
    """A run's rows per resource as text: ``{"daily_rows": 68780}`` → ``daily rows 68,780``."""
    if not counts:
        return None
    try:
        parsed = json.loads(counts)
    except ValueError:
        return counts
    if not isinstance(parsed, dict):
        return counts
    return " · ".join(
        f"{str(k).replace('_', ' ')} {v:,}" if isinstance(v, int) else f"{k} {v}"
        for k, v in parsed.items()
    )


def run_history(db: Database, scope: Scope, limit: int = 200) -> pl.DataFrame:
    """The newest runs, their rows per resource as text (see `describe_counts`)."""
    return db.query(
        f"""
        SELECT r.id, r.source, w.name AS client, r.started_at, r.finished_at,
               round(epoch(r.finished_at) - epoch(r.started_at), 1) AS seconds, r.status,
               CAST(r.counts AS VARCHAR) AS counts, r.requests, r.error, r.triggered_by
        FROM sync_runs r LEFT JOIN workspaces w ON w.id = r.workspace_id
        WHERE r.workspace_id IS NULL OR {scope.filter("r.workspace_id")}
        ORDER BY r.started_at DESC LIMIT ?
        """,
        [limit],
    ).with_columns(
        pl.col("counts").map_elements(describe_counts, return_dtype=pl.Utf8, skip_nulls=True)
    )


def mark_interrupted(db: Database) -> int:
    """Sync runs a dead process left `running` end as interrupted (at app start)."""
    rows = db.rows(
        "UPDATE sync_runs SET status = 'interrupted', finished_at = now(),"
        " error = coalesce(error, 'Interrupted: the process running it stopped.')"
        " WHERE status = 'running' RETURNING id"
    )
    return len(rows)
