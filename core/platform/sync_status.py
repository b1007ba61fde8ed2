"""Sync status for pages: whether each source is connected, when it last really synced, and
the history of runs.

A source shows as synced only when a real sync ran with a configured connection: an Email Bison
client needs its token, Stripe needs a key, and the rows the demo loader writes to make the demo
look freshly synced (`triggered_by = 'demo'`) are not syncs. The footer, the Data sync page and
the Revenue page all read it from here.
"""

from __future__ import annotations

import json
import os

import polars as pl

from core.platform import secrets
from core.platform.scope import Scope
from core.platform.store import Database

# How the Stripe sync finds its key (core.revenue.stripe_sync reads the same kind and name).
STRIPE_SECRET_KIND = "stripe_key"
STRIPE_SECRET_NAME = "stripe.main"
STRIPE_ENV = "STRIPE_API_KEY"
REAL_RUN = "r.triggered_by IS DISTINCT FROM 'demo'"
SOURCE_NAMES = {"bison": "Email Bison", "stripe": "Stripe"}


def stripe_configured(db: Database) -> bool:
    """Whether a Stripe key is there, from the database alone (cheap enough for every page run)."""
    return bool(os.environ.get(STRIPE_ENV)) or secrets.has_kind(
        db, STRIPE_SECRET_KIND, STRIPE_SECRET_NAME
    )


def last_sync_per_workspace(db: Database, scope: Scope) -> pl.DataFrame:
    """Per active client: its Email Bison connection, and its last real sync. A client whose
    token is not set shows "not connected" and no sync time, whatever runs are recorded."""
    return db.query(
        f"""
        WITH w AS (
            SELECT w.id, w.name, s.last4 FROM workspaces w
            LEFT JOIN secret_refs s ON s.name = 'bison.workspace.' || w.id
            WHERE w.active AND {scope.filter("w.id")}
        )
        SELECT w.id AS workspace_id, w.name AS client,
               CASE WHEN w.last4 IS NULL THEN 'not connected' ELSE 'connected' END AS connection,
               CASE WHEN w.last4 IS NOT NULL
                    THEN max(r.finished_at) FILTER (WHERE r.status = 'succeeded') END AS last_success,
               CASE WHEN w.last4 IS NULL THEN 'not connected'
                    ELSE coalesce(arg_max(r.status, r.started_at), 'never synced') END AS last_status,
               CASE WHEN w.last4 IS NOT NULL THEN arg_max(r.error, r.started_at) END AS last_error,
               coalesce('…' || w.last4, 'not set') AS token
        FROM w LEFT JOIN sync_runs r ON r.workspace_id = w.id AND r.source = 'bison' AND {REAL_RUN}
        GROUP BY w.id, w.name, w.last4 ORDER BY last_success NULLS FIRST, w.name
        """
    )


def stripe_status(db: Database) -> dict:
    """Stripe's connection and last real sync: `connected`, `last_success` (None unless a key is
    configured and a real sync succeeded) and `text` to show ("Stripe: not connected", …)."""
    connected = stripe_configured(db)
    last = (
        db.scalar(
            f"SELECT max(finished_at) FROM sync_runs r WHERE source = 'stripe'"
            f" AND status = 'succeeded' AND {REAL_RUN}"
        )
        if connected
        else None
    )
    if not connected:
        text = "Stripe: not connected (no Stripe key)"
    elif last is None:
        text = "Stripe: connected, not synced yet"
    else:
        text = f"Stripe last synced {last:%b} {last.day}, {last:%H:%M} UTC"
    return {"connected": connected, "last_success": last, "text": text}


def source_status(db: Database, scope: Scope | None = None) -> pl.DataFrame:
    """One row per source: `source`, `name`, `connected` (clients with a token, or 1/0 for
    Stripe), `clients`, `last_success` (real syncs of connected clients only; None when none) and
    `runs`. A client's scope sees only Email Bison (Stripe belongs to no client)."""
    scope = scope or Scope.all()
    per = last_sync_per_workspace(db, scope)
    connected = per.filter(pl.col("connection") == "connected")
    rows = [
        {
            "source": "bison",
            "name": SOURCE_NAMES["bison"],
            "connected": connected.height,
            "clients": per.height,
            "last_success": connected["last_success"].max() if connected.height else None,
            "runs": int(connected["last_success"].is_not_null().sum()),
        }
    ]
    if scope.workspace_ids is None:
        stripe = stripe_status(db)
        rows.append(
            {
                "source": "stripe",
                "name": SOURCE_NAMES["stripe"],
                "connected": int(stripe["connected"]),
                "clients": 1,
                "last_success": stripe["last_success"],
                "runs": int(stripe["last_success"] is not None),
            }
        )
    schema = {
        "source": pl.Utf8,
        "name": pl.Utf8,
        "connected": pl.Int64,
        "clients": pl.Int64,
        "last_success": pl.Datetime("us", "UTC"),
        "runs": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


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
    """The newest runs, their rows per resource as text (see `describe_counts`). The rows the
    demo loader records read "demo data (not a sync)"."""
    return db.query(
        f"""
        SELECT r.id, r.source, w.name AS client, r.started_at, r.finished_at,
               round(epoch(r.finished_at) - epoch(r.started_at), 1) AS seconds,
               CASE WHEN r.triggered_by = 'demo' THEN 'demo data (not a sync)' ELSE r.status END
                 AS status,
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
