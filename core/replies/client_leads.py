"""Client leads: every interested person per client, one lead per normalised email however many
campaigns they replied to, with a pipeline stage, notes and an activity timeline.

Leads are created from interested replies (`refresh`, run after every sync and after staff mark a
reply interested); their stage moves by hand or, for HubSpot clients with deals, from the deal
stage (`core/replies/crm_delivery.py`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from core.accounts import access
from core.platform import audit
from core.platform.scope import Scope
from core.platform.store import Database, fetch_one

STAGES = ("new", "contacted", "quoted", "won", "lost")
FUNNEL = ("new", "contacted", "quoted", "won")


class LeadError(ValueError):
    pass


def normalise_email(email: str | None) -> str:
    return (email or "").strip().lower()


def _ws_filter(workspace_ids: list[int] | None, column: str = "r.workspace_id") -> str:
    if workspace_ids is None:
        return "true"
    return f"{column} IN ({', '.join(str(int(i)) for i in workspace_ids) or 'NULL'})"


def refresh(db: Database, workspace_ids: list[int] | None = None) -> list[tuple[int, str]]:
    """Create a lead for every interested person not yet a lead; returns (workspace_id, email)."""
    with db.transaction() as cur:
        rows = cur.execute(
            f"""
            INSERT INTO client_leads (workspace_id, email, first_name, last_name, first_interested_at)
            SELECT r.workspace_id, lower(trim(coalesce(l.email, r.from_email))) AS email,
                   any_value(coalesce(l.first_name, nullif(split_part(r.from_name, ' ', 1), ''))),
                   any_value(coalesce(l.last_name, nullif(regexp_extract(r.from_name, ' (.+)$', 1), ''))),
                   min(r.date_received)
            FROM bison_replies r
            LEFT JOIN bison_leads l ON l.workspace_id = r.workspace_id AND l.id = r.lead_id
            WHERE r.interested AND NOT r.automated_reply AND coalesce(r.folder, 'Inbox') <> 'Sent'
              AND coalesce(l.email, r.from_email) LIKE '%_@_%' AND {_ws_filter(workspace_ids)}
            GROUP BY ALL
            ON CONFLICT (workspace_id, email) DO NOTHING
            RETURNING workspace_id, email
            """
        ).fetchall()
    return [(int(w), e) for w, e in rows]


_LEAD_REPLIES = """
    SELECT r.workspace_id, lower(trim(coalesce(l.email, r.from_email))) AS email, r.id, r.campaign_id,
           r.date_received, r.interested, r.subject, r.text_body
    FROM bison_replies r LEFT JOIN bison_leads l ON l.workspace_id = r.workspace_id AND l.id = r.lead_id
    WHERE coalesce(r.folder, 'Inbox') <> 'Sent'
"""


def list_leads(
    db: Database,
    scope: Scope,
    *,
    stage: str | None = None,
    search: str | None = None,
) -> pl.DataFrame:
    """Leads with their client, campaigns, reply count, last reply, CRM status and notes count.

    `other_clients` counts the other clients of the scope with the same person as a lead: a
    client user never learns that another client has them too."""
    where, params = [scope.filter("c.workspace_id")], []
    if stage:
        where.append("c.stage = ?")
        params.append(stage)
    if search:
        where.append("(c.email ILIKE ? OR c.first_name ILIKE ? OR c.last_name ILIKE ?)")
        params += [f"%{search}%"] * 3
    return db.query(
        f"""
        WITH rep AS ({_LEAD_REPLIES} AND {scope.filter("r.workspace_id")}),
        agg AS (
            SELECT workspace_id, email, count(*) AS replies, max(date_received) AS last_reply_at,
                   list_distinct(list(campaign_id)) AS campaign_ids
            FROM rep WHERE (workspace_id, email) IN (SELECT workspace_id, email FROM client_leads)
            GROUP BY ALL
        ),
        notes AS (SELECT workspace_id, email, count(*) AS n FROM client_lead_notes
                  WHERE {scope.filter()} GROUP BY ALL),
        others AS (SELECT email, count(DISTINCT workspace_id) AS n FROM client_leads
                   WHERE {scope.filter()} GROUP BY email)
        SELECT c.workspace_id, w.name AS client, c.email,
               trim(concat_ws(' ', c.first_name, c.last_name)) AS name, c.stage, c.first_interested_at,
               coalesce(agg.replies, 0) AS replies, agg.last_reply_at,
               (SELECT string_agg(bc.name, ' · ') FROM bison_campaigns bc WHERE bc.workspace_id = c.workspace_id
                  AND list_contains(agg.campaign_ids, bc.id)) AS campaigns,
               d.status AS crm_status, d.delivered_at AS crm_delivered_at, coalesce(notes.n, 0) AS notes,
               others.n - 1 AS other_clients, c.stage_changed_at
        FROM client_leads c JOIN workspaces w ON w.id = c.workspace_id
        LEFT JOIN agg ON agg.workspace_id = c.workspace_id AND agg.email = c.email
        LEFT JOIN crm_deliveries d ON d.workspace_id = c.workspace_id AND d.email = c.email
        LEFT JOIN notes ON notes.workspace_id = c.workspace_id AND notes.email = c.email
        LEFT JOIN others ON others.email = c.email
        WHERE {" AND ".join(where)}
        ORDER BY c.first_interested_at DESC, c.email
        """,
        params,
    )


def stage_counts(db: Database, scope: Scope) -> dict[str, int]:
    rows = dict(
        db.rows(f"SELECT stage, count(*) FROM client_leads WHERE {scope.filter()} GROUP BY stage")
    )
    return {s: int(rows.get(s, 0)) for s in STAGES}


def funnel(db: Database, scope: Scope) -> pl.DataFrame:
    """Leads that reached each stage (a won lead also counts as contacted and quoted)."""
    counts = stage_counts(db, scope)
    total = sum(counts.values())
    reached = {
        "new": total,
        "contacted": counts["contacted"] + counts["quoted"] + counts["won"],
        "quoted": counts["quoted"] + counts["won"],
        "won": counts["won"],
    }
    return pl.DataFrame(
        {
            "stage": list(FUNNEL),
            "leads": [reached[s] for s in FUNNEL],
            "share": [round(reached[s] / total, 4) if total else None for s in FUNNEL],
        },
        schema={"stage": pl.Utf8, "leads": pl.Int64, "share": pl.Float64},
    )


def counts_by_client(db: Database, scope: Scope) -> pl.DataFrame:
    return db.query(
        f"""
        SELECT w.name AS client, count(*) AS leads,
               {", ".join(f"count(*) FILTER (WHERE c.stage = '{s}') AS {s}" for s in STAGES)},
               round(count(*) FILTER (WHERE c.stage = 'won') / count(*), 4) AS win_rate
        FROM client_leads c JOIN workspaces w ON w.id = c.workspace_id
        WHERE {scope.filter("c.workspace_id")} GROUP BY ALL ORDER BY leads DESC, client
        """
    )


def _lead(cur, workspace_id: int, email: str) -> dict[str, Any] | None:
    row = fetch_one(
        cur,
        "SELECT stage, first_name, last_name FROM client_leads WHERE workspace_id = ? AND email = ?",
        [workspace_id, email],
    )
    return None if row is None else {"stage": row[0], "first_name": row[1], "last_name": row[2]}


def _check(user: access.User, action: str, workspace_id: int) -> None:
    access.require(user, action)
    if not user.scope.allows(workspace_id):
        raise access.PermissionDenied("That lead belongs to a client you cannot act for.")


def set_stage(
    db: Database, user: access.User, workspace_id: int, email: str, stage: str
) -> dict[str, Any]:
    _check(user, "leads.manage", workspace_id)
    if stage not in STAGES:
        raise LeadError(f"Stage: must be one of {', '.join(STAGES)}.")
    email = normalise_email(email)
    with db.transaction() as cur:
        before = _lead(cur, workspace_id, email)
        if before is None:
            raise LeadError(f"No lead {email} for this client.")
        if before["stage"] == stage:
            return before
        cur.execute(
            "UPDATE client_leads SET stage = ?, stage_changed_at = now(), stage_changed_by = ?"
            " WHERE workspace_id = ? AND email = ?",
            [stage, user.email, workspace_id, email],
        )
        audit.record(
            cur,
            actor=user.email,
            action="lead.stage",
            entity="client_lead",
            entity_id=f"{workspace_id}:{email}",
            before={"stage": before["stage"]},
            after={"stage": stage},
        )
    return {**before, "stage": stage}


def add_note(db: Database, user: access.User, workspace_id: int, email: str, body: str) -> int:
    _check(user, "leads.manage", workspace_id)
    body = (body or "").strip()
    if not body:
        raise LeadError("Note: write something first.")
    if len(body) > 5000:
        raise LeadError(f"Note: at most 5,000 characters (this one has {len(body):,}).")
    email = normalise_email(email)
    with db.transaction() as cur:
        if _lead(cur, workspace_id, email) is None:
            raise LeadError(f"No lead {email} for this client.")
        note_id = fetch_one(
            cur,
            "INSERT INTO client_lead_notes (workspace_id, email, body, created_by) VALUES (?, ?, ?, ?)"
            " RETURNING id",
            [workspace_id, email, body, user.email],
        )[0]
        audit.record(
            cur,
            actor=user.email,
            action="lead.note",
            entity="client_lead",
            entity_id=f"{workspace_id}:{email}",
            after={"note_id": note_id, "chars": len(body)},
        )
    return int(note_id)


def notes(db: Database, scope: Scope, workspace_id: int, email: str) -> pl.DataFrame:
    if not scope.allows(workspace_id):
        return pl.DataFrame()
    return db.query(
        "SELECT created_at, created_by, body FROM client_lead_notes WHERE workspace_id = ? AND email = ?"
        " ORDER BY created_at DESC, id DESC",
        [workspace_id, normalise_email(email)],
    )


def timeline(db: Database, scope: Scope, workspace_id: int, email: str) -> pl.DataFrame:
    """Every event with this person for this client, newest first: when they were added to
    Email Bison and how many emails went out, each reply, each answer we sent, notes, stage
    changes and CRM deliveries, with their full text. Columns: occurred_at, kind, detail, who,
    reply_id and handled (for a reply: its id and whether it is handled; else null)."""
    if not scope.allows(workspace_id):
        return pl.DataFrame()
    email = normalise_email(email)
    return db.query(
        """
        WITH lead AS (SELECT * FROM bison_leads WHERE workspace_id = $w AND lower(trim(email)) = $e),
        reps AS (
            SELECT r.* FROM bison_replies r
            WHERE r.workspace_id = $w AND coalesce(r.folder, 'Inbox') <> 'Sent'
              AND (r.lead_id IN (SELECT id FROM lead) OR lower(trim(r.from_email)) = $e)
        )
        SELECT * FROM (
            SELECT created_at AS occurred_at, 'email' AS kind,
                   'Added to Email Bison' || CASE WHEN emails_sent > 0
                     THEN '; ' || emails_sent || ' campaign email(s) sent so far' ELSE '' END AS detail,
                   'Email Bison' AS who, NULL::BIGINT AS reply_id, NULL::BOOLEAN AS handled
            FROM lead WHERE created_at IS NOT NULL
            UNION ALL
            SELECT r.date_received, 'reply',
                   coalesce(bc.name || ': ', '') || coalesce(r.subject, '') || ' — '
                     || coalesce(r.text_body, '')
                     || CASE WHEN r.interested THEN ' [interested]' ELSE '' END,
                   coalesce(r.from_name, r.from_email), r.id, x.handled_at IS NOT NULL
            FROM reps r LEFT JOIN bison_campaigns bc ON bc.workspace_id = r.workspace_id AND bc.id = r.campaign_id
            LEFT JOIN reply_labels x ON x.workspace_id = r.workspace_id AND x.reply_id = r.id
            UNION ALL
            SELECT s.sent_at, 'email', 'Answer sent: ' || s.body, s.sent_by, NULL, NULL
            FROM reply_sends s WHERE s.workspace_id = $w AND s.reply_id IN (SELECT id FROM reps)
            UNION ALL
            SELECT created_at, 'note', body, created_by, NULL, NULL FROM client_lead_notes
            WHERE workspace_id = $w AND email = $e
            UNION ALL
            SELECT occurred_at, 'stage',
                   'Stage ' || coalesce(json_extract_string(before, '$.stage'), '?') || ' → '
                     || coalesce(json_extract_string(after, '$.stage'), '?'), actor, NULL, NULL
            FROM audit_log WHERE entity = 'client_lead' AND action = 'lead.stage'
              AND entity_id = CAST($w AS VARCHAR) || ':' || $e
            UNION ALL  -- a stage set without an audited change (imported or demo data)
            SELECT stage_changed_at, 'stage', 'Stage → ' || stage, stage_changed_by, NULL, NULL
            FROM client_leads
            WHERE workspace_id = $w AND email = $e AND stage_changed_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM audit_log WHERE entity = 'client_lead' AND action = 'lead.stage'
                              AND entity_id = CAST($w AS VARCHAR) || ':' || $e)
            UNION ALL
            SELECT a.attempted_at, 'crm',
                   a.method || ' ' || a.path || ' → ' || coalesce(CAST(a.status_code AS VARCHAR), 'no response'),
                   d.crm_type, NULL, NULL
            FROM crm_attempts a JOIN crm_deliveries d ON d.delivery_key = a.delivery_key
            WHERE d.workspace_id = $w AND d.email = $e
        ) ORDER BY occurred_at DESC
        """,
        {"w": workspace_id, "e": email},
    )
