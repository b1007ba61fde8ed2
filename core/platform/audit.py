"""The audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from typing import Any

import duckdb
import polars as pl

from core.platform.store import Database


def current_actor() -> str:
    """Who is acting when no signed-in user is known: the OS user, marked as local."""
    user = os.environ.get("LEADOPS_ACTOR")
    if user:
        return user
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "local"


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_default, sort_keys=True, ensure_ascii=False)


def _default(o: Any) -> Any:
    if isinstance(o, dt.date | dt.datetime):
        return o.isoformat()
    if isinstance(o, set | tuple):
        return list(o)
    return str(o)


def record(
    cur: duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: Any = None,
    after: Any = None,
) -> None:
    """Write one audit entry inside the caller's transaction (so it commits with the change)."""
    cur.execute(
        "INSERT INTO audit_log (actor, action, entity, entity_id, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            actor,
            action,
            entity,
            None if entity_id is None else str(entity_id),
            _json(before),
            _json(after),
        ],
    )


def recent(
    db: Database,
    *,
    limit: int = 200,
    entity: str | None = None,
    actor: str | None = None,
    action_contains: str | None = None,
    since: dt.datetime | None = None,
) -> pl.DataFrame:
    where, params = ["true"], []
    if since is not None:
        where.append("occurred_at >= ?")
        params.append(since)
    if entity:
        where.append("entity = ?")
        params.append(entity)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action_contains:
        where.append("action ILIKE ?")
        params.append(f"%{action_contains}%")
    params.append(limit)
    return db.query(
        "SELECT occurred_at, actor, action, entity, entity_id, CAST(before AS VARCHAR) AS before,"
        " CAST(after AS VARCHAR) AS after FROM audit_log WHERE "
        + " AND ".join(where)
        + " ORDER BY id DESC LIMIT ?",
        params,
    )
