"""CRM delivery as the pages show it: health per client, the deliveries and the attempt log.

What a CRM (or whatever its URL pointed at) answered — the attempt log's response excerpts and a
delivery's last error — is shown to admins only (`remote_text`, see :func:`sees_remote_text`);
everyone else, a client's own users included, sees status codes and outcomes.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from core.accounts import access
from core.platform.scope import Scope
from core.platform.store import Database


def sees_remote_text(user: access.User) -> bool:
    """Whether `user` may read what remote servers answered (admins: they configure the CRMs)."""
    return user.role == "admin"


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


# what a delivery's last error says to someone who may not read remote answers
_ERROR_OUTLINE = """CASE WHEN d.last_error IS NULL THEN NULL ELSE coalesce(
    'HTTP ' || CAST((SELECT a.status_code FROM crm_attempts a WHERE a.delivery_key = d.delivery_key
                     ORDER BY a.attempted_at DESC, a.id DESC LIMIT 1) AS VARCHAR),
    'not delivered') || ' (details for admins)' END"""


def deliveries(
    db: Database, scope: Scope, *, status: str | None = None, remote_text: bool = False
) -> pl.DataFrame:
    where = [scope.filter("d.workspace_id")]
    params: list[Any] = []
    if status:
        where.append("d.status = ?")
        params.append(status)
    error = "d.last_error" if remote_text else _ERROR_OUTLINE
    return db.query(
        f"""SELECT w.name AS client, d.email, d.crm_type, d.status, d.attempts, d.next_attempt_at,
                   {error} AS last_error,
                   d.crm_contact_id, d.crm_deal_id, d.crm_deal_stage, d.created_at, d.delivered_at
            FROM crm_deliveries d JOIN workspaces w ON w.id = d.workspace_id
            WHERE {" AND ".join(where)} ORDER BY d.created_at DESC LIMIT 1000""",
        params,
    )


def attempts_log(
    db: Database, scope: Scope, *, limit: int = 500, remote_text: bool = False
) -> pl.DataFrame:
    excerpt = "a.response_excerpt" if remote_text else "CAST(NULL AS VARCHAR)"
    return db.query(
        f"""SELECT a.attempted_at, w.name AS client, d.email, a.method, a.path, a.status_code, a.ok,
                   a.duration_ms, {excerpt} AS response_excerpt
            FROM crm_attempts a JOIN workspaces w ON w.id = a.workspace_id
            LEFT JOIN crm_deliveries d ON d.delivery_key = a.delivery_key
            WHERE {scope.filter("a.workspace_id")} ORDER BY a.attempted_at DESC, a.id DESC LIMIT ?""",
        [limit],
    )
