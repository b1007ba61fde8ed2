"""CRM delivery as the pages show it: health per client, the deliveries and the attempt log."""

from __future__ import annotations

from typing import Any

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database


def health(db: Database, scope: Scope) -> pl.DataFrame:
    """Per configured client: last success, failures in the last 24 h, queue by status."""
    return db.query(
        f"""
        SELECT c.workspace_id, w.name AS client, c.crm_type, c.enabled,
               (SELECT max(delivered_at) FROM crm_deliveries d WHERE d.workspace_id = c.workspace_id) AS last_success,
               (SELECT count(*) FROM crm_attempts a WHERE a.workspace_id = c.workspace_id AND NOT a.ok
                  AND a.attempted_at >= now() - INTERVAL 24 HOUR) AS failures_24h,
               (SELECT count(*) FROM crm_deliveries d WHERE d.workspace_id = c.workspace_id AND d.status = 'delivered') AS delivered,
               (SELECT count(*) FROM crm_deliveries d WHERE d.workspace_id = c.workspace_id AND d.status = 'pending') AS pending,
               (SELECT count(*) FROM crm_deliveries d WHERE d.workspace_id = c.workspace_id AND d.status = 'failed') AS failed,
               c.last_test_ok
        FROM crm_configs c JOIN workspaces w ON w.id = c.workspace_id
        WHERE {scope.filter("c.workspace_id")} ORDER BY w.name
        """
    )


def deliveries(db: Database, scope: Scope, *, status: str | None = None) -> pl.DataFrame:
    where = [scope.filter("d.workspace_id")]
    params: list[Any] = []
    if status:
        where.append("d.status = ?")
        params.append(status)
    return db.query(
        f"""SELECT w.name AS client, d.email, d.crm_type, d.status, d.attempts, d.next_attempt_at, d.last_error,
                   d.crm_contact_id, d.crm_deal_id, d.crm_deal_stage, d.created_at, d.delivered_at
            FROM crm_deliveries d JOIN workspaces w ON w.id = d.workspace_id
            WHERE {" AND ".join(where)} ORDER BY d.created_at DESC LIMIT 1000""",
        params,
    )


def attempts_log(db: Database, scope: Scope, *, limit: int = 500) -> pl.DataFrame:
    return db.query(
        f"""SELECT a.attempted_at, w.name AS client, d.email, a.method, a.path, a.status_code, a.ok,
                   a.duration_ms, a.response_excerpt
            FROM crm_attempts a JOIN workspaces w ON w.id = a.workspace_id
            LEFT JOIN crm_deliveries d ON d.delivery_key = a.delivery_key
            WHERE {scope.filter("a.workspace_id")} ORDER BY a.attempted_at DESC, a.id DESC LIMIT ?""",
        [limit],
    )
