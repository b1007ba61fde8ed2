"""The suppression list's one writer, and the feed that keeps it current from Email Bison.

Every addition goes through `insert` — files, single additions, deletion requests (the pipeline
and the contacts workbench) and the automatic feed below — so an address keeps its first reason,
source and date, whoever added it.

`sweep` (run after every Email Bison sync and webhook intake, with the replies' processing) adds:

* **webhook events**: ``lead_unsubscribed`` and ``email_bounced`` events taken in
  (bison_webhook_events), dated when the receiver accepted them, source ``email bison webhook``;
* **the sync**: Email Bison leads whose status is ``unsubscribed`` or ``bounced``
  (bison_leads; Email Bison marks a lead bounced on a hard bounce), dated by the lead's last
  change, source ``email bison sync``;
* **replies** classified as a removal request (category ``unsubscribe``, or a staff override to
  it), dated when the reply came in, source ``reply``.

It reads those tables with SQL only and writes nothing but suppression_list and one audit entry
per sweep that added something. Running it again adds nothing new.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from core.platform import audit
from core.platform.scope import Scope
from core.platform.store import Database

FEED_ACTOR = "email bison"
SOURCES = {
    "webhook": "email bison webhook",
    "sync": "email bison sync",
    "reply": "reply",
}
REASONS = {"bounced": "bounced", "unsubscribed": "unsubscribed", "reply": "removal request"}
AUDITED_EMAILS = 50


def email_key(email: str | None) -> str:
    return (email or "").strip().lower()


def insert(
    cur: duckdb.DuckDBPyConnection,
    rows: list[dict[str, Any]],
    *,
    added_by: str,
    source: str | None = None,
) -> list[str]:
    """Add rows {email_key, reason, [source], [detail], [added_at]} inside the caller's
    transaction; an address already listed keeps its entry. Returns the keys that were new."""
    rows = [r for r in rows if email_key(r.get("email_key"))]
    if not rows:
        return []
    table = pa.table(
        {
            "email_key": [email_key(r["email_key"]) for r in rows],
            "reason": [str(r["reason"])[:200] for r in rows],
            "source": [r.get("source") or source or "manual" for r in rows],
            "detail": pa.array([r.get("detail") for r in rows], pa.string()),
            "added_at": pa.array([r.get("added_at") for r in rows], pa.timestamp("us", "UTC")),
        }
    )
    cur.register("_supp_new", table)
    try:
        return [
            k
            for (k,) in cur.execute(
                "INSERT INTO suppression_list (email_key, reason, source, added_by, added_at, detail)"
                " SELECT email_key, arg_min(reason, coalesce(added_at, now())),"
                " arg_min(source, coalesce(added_at, now())), ?,"
                " coalesce(min(added_at), now()), arg_min(detail, coalesce(added_at, now()))"
                " FROM _supp_new GROUP BY email_key ON CONFLICT DO NOTHING RETURNING email_key",
                [added_by],
            ).fetchall()
        ]
    finally:
        cur.unregister("_supp_new")


def listed(db: Database, emails: list[str]) -> set[str]:
    """Which of these addresses are on the list (compared lower-cased, trimmed)."""
    keys = sorted({email_key(e) for e in emails if email_key(e)})
    if not keys:
        return set()
    return {
        r[0]
        for r in db.rows(
            "SELECT email_key FROM suppression_list WHERE email_key IN (SELECT unnest(?))", [keys]
        )
    }


# -- the automatic feed -----------------------------------------------------------------------

_LEAD_ID = (
    "TRY_CAST(coalesce(json_extract_string(e.payload, '$.data.lead.id'),"
    " json_extract_string(e.payload, '$.data.reply.lead_id'),"
    " json_extract_string(e.payload, '$.data.scheduled_email.lead_id')) AS BIGINT)"
)


def _candidates_sql(scope: Scope) -> str:
    """Every address the feed would add, with reason, source, detail and date; one row per
    address (the earliest), not yet on the list."""
    return f"""
        WITH found AS (
            SELECT lower(trim(coalesce(l.email, json_extract_string(e.payload, '$.data.lead.email'))))
                       AS email_key,
                   CASE e.event_type WHEN 'email_bounced' THEN 'bounced' ELSE 'unsubscribed' END
                       AS reason,
                   '{SOURCES["webhook"]}' AS source, 1 AS pref,
                   w.name || ': Email Bison lead ' || CAST({_LEAD_ID} AS VARCHAR) AS detail,
                   e.received_at AS seen_at
            FROM bison_webhook_events e
            JOIN workspaces w ON w.id = e.workspace_id
            LEFT JOIN bison_leads l ON l.workspace_id = e.workspace_id AND l.id = {_LEAD_ID}
            WHERE e.event_type IN ('email_bounced', 'lead_unsubscribed')
              AND e.applied_at IS NOT NULL AND {scope.filter("e.workspace_id")}
            UNION ALL
            SELECT lower(trim(l.email)), l.status, '{SOURCES["sync"]}', 2,
                   w.name || ': Email Bison lead ' || CAST(l.id AS VARCHAR),
                   coalesce(l.updated_at, l.synced_at)
            FROM bison_leads l JOIN workspaces w ON w.id = l.workspace_id
            WHERE l.status IN ('bounced', 'unsubscribed') AND {scope.filter("l.workspace_id")}
            UNION ALL
            SELECT lower(trim(r.from_email)), '{REASONS["reply"]}', '{SOURCES["reply"]}', 3,
                   w.name || ': reply ' || CAST(r.id AS VARCHAR), r.date_received
            FROM reply_labels x
            JOIN bison_replies r ON r.workspace_id = x.workspace_id AND r.id = x.reply_id
            JOIN workspaces w ON w.id = x.workspace_id
            WHERE coalesce(x.override_category, x.category) = 'unsubscribe'
              AND {scope.filter("x.workspace_id")})
        SELECT email_key, arg_min(reason, (pref, seen_at)) AS reason,
               arg_min(source, (pref, seen_at)) AS source, arg_min(detail, (pref, seen_at)) AS detail,
               min(seen_at) AS added_at
        FROM found
        WHERE email_key LIKE '%_@_%' AND email_key NOT IN (SELECT email_key FROM suppression_list)
        GROUP BY email_key
    """


def sweep(db: Database, workspace_ids: list[int] | None = None) -> dict[str, int]:
    """Add every unsubscribe, hard bounce and removal-request reply not listed yet. Returns how
    many were added per source (empty when nothing was new)."""
    scope = Scope.all() if workspace_ids is None else Scope.only(workspace_ids)
    with db.transaction() as cur:
        found = cur.execute(_candidates_sql(scope)).fetchall()
        if not found:
            return {}
        rows = [
            {"email_key": k, "reason": r, "source": s, "detail": d, "added_at": at}
            for k, r, s, d, at in found
        ]
        added = set(insert(cur, rows, added_by=FEED_ACTOR))
        counts: dict[str, int] = {}
        for r in rows:
            if r["email_key"] in added:
                counts[r["source"]] = counts.get(r["source"], 0) + 1
        if added:
            after: dict[str, Any] = {"added": len(added), "by_source": counts}
            if len(added) <= AUDITED_EMAILS:
                after["emails"] = sorted(added)
            audit.record(
                cur,
                actor=FEED_ACTOR,
                action="suppression.auto_add",
                entity="suppression_list",
                after=after,
            )
    return counts


def counts_by_reason(db: Database) -> Any:
    """How many addresses are listed per reason and source, most first."""
    return db.query(
        "SELECT reason, source, count(*) AS addresses, max(added_at) AS newest"
        " FROM suppression_list GROUP BY ALL ORDER BY addresses DESC, reason, source"
    )
