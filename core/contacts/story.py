"""A contact's story on one screen: where it came from, every decision about it, its batch and
upload, its Email Bison lead, replies and CRM deliveries.

Decisions are the contact's history (contact_events: filter rules that rejected or moved it,
verification results, uploads held back, edits, moves). Contacts filtered before that history was
kept show their last recorded reason instead, marked as such.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database


class NotFound(LookupError):
    """No such contact in the caller's scope."""


def contact(db: Database, scope: Scope, contact_id: int) -> dict[str, Any]:
    """The contact row with its client's name; NotFound outside the caller's scope."""
    df = db.query(
        "SELECT c.*, w.name AS client FROM contacts c JOIN workspaces w ON w.id = c.workspace_id"
        f" WHERE c.id = ? AND {scope.filter('c.workspace_id')}",
        [int(contact_id)],
    )
    if not df.height:
        raise NotFound(f"No contact {contact_id} among the clients you can see.")
    return df.row(0, named=True)


def origin(db: Database, c: dict[str, Any]) -> dict[str, Any]:
    """Where the contact came from: the file (name, row, who, when) or the master-database pull."""
    out: dict[str, Any] = {"source": c["source"], "imported_at": c["imported_at"]}
    if c.get("import_id") is None:
        return out
    rep = db.query(
        "SELECT source, filename, requested_by, started_at FROM import_reports WHERE id = ?",
        [c["import_id"]],
    )
    if rep.height:
        r = rep.row(0, named=True)
        out.update(
            kind=r["source"],
            file=r["filename"],
            row=c.get("import_row"),
            by=r["requested_by"],
            at=r["started_at"],
            import_id=c["import_id"],
        )
    pull = db.query(
        "SELECT month, array_length(zips) AS zips, pulled, pulled_at FROM pull_history"
        " WHERE import_id = ?",
        [c["import_id"]],
    )
    if pull.height:
        out["pull"] = pull.row(0, named=True)
    return out


def decisions(db: Database, c: dict[str, Any]) -> pl.DataFrame:
    """Every decision about the contact, oldest first (when, what, rule, reason, who)."""
    df = db.query(
        "SELECT occurred_at AS at, kind, rule, reason, actor FROM contact_events"
        " WHERE contact_id = ? ORDER BY occurred_at, kind",
        [c["id"]],
    )
    if not df.height and c.get("reject_reason"):
        df = pl.DataFrame(
            {
                "at": [c["updated_at"]],
                "kind": ["recorded reason"],
                "rule": [c["reject_reason"]],
                "reason": [f"{c['status']} (decided before each decision was kept)"],
                "actor": ["pipeline"],
            }
        )
    return df


def batch_and_upload(db: Database, c: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bison_lead_id": c.get("bison_lead_id"),
        "uploaded_at": c.get("uploaded_at"),
    }
    if c.get("batch_id") is not None:
        b = db.query(
            "SELECT b.id, b.name, b.status, b.window_start, b.window_end, b.bison_campaign_id,"
            " bc.name AS campaign FROM batches b LEFT JOIN bison_campaigns bc"
            " ON bc.workspace_id = b.workspace_id AND bc.id = b.bison_campaign_id WHERE b.id = ?",
            [c["batch_id"]],
        )
        if b.height:
            out["batch"] = b.row(0, named=True)
    lead = db.query(
        "SELECT id, status, campaign_status, emails_sent, replies, updated_at FROM bison_leads"
        " WHERE workspace_id = ? AND (id = ? OR contact_id = ? OR lower(email) = ?)"
        " ORDER BY (id = ?) DESC LIMIT 1",
        [c["workspace_id"], c.get("bison_lead_id"), c["id"], _key(c), c.get("bison_lead_id")],
    )
    if lead.height:
        out["lead"] = lead.row(0, named=True)
    return out


def replies(db: Database, c: dict[str, Any]) -> pl.DataFrame:
    return db.query(
        "SELECT r.date_received, r.subject, coalesce(l.override_category, l.category, r.category)"
        " AS category, r.interested, left(r.text_body, 300) AS text FROM bison_replies r"
        " LEFT JOIN reply_labels l ON l.workspace_id = r.workspace_id AND l.reply_id = r.id"
        " WHERE r.workspace_id = ? AND (r.lead_id = ? OR lower(trim(r.from_email)) = ?)"
        " AND coalesce(r.folder, '') <> 'Sent' ORDER BY r.date_received DESC",
        [c["workspace_id"], c.get("bison_lead_id"), _key(c)],
    )


def crm_deliveries(db: Database, c: dict[str, Any]) -> pl.DataFrame:
    return db.query(
        "SELECT crm_type, status, attempts, created_at, delivered_at, crm_deal_stage"
        " FROM crm_deliveries WHERE workspace_id = ? AND email = ? ORDER BY created_at",
        [c["workspace_id"], _key(c)],
    )


def suppressed(db: Database, c: dict[str, Any]) -> dict[str, Any] | None:
    df = db.query(
        "SELECT reason, source, detail, added_by, added_at FROM suppression_list"
        " WHERE email_key = ?",
        [_key(c)],
    )
    return df.row(0, named=True) if df.height else None


def _key(c: dict[str, Any]) -> str:
    return (c.get("email") or "").strip().lower()


def story(db: Database, scope: Scope, contact_id: int) -> dict[str, Any]:
    """Everything about one contact, for the page and `leadops contacts show`."""
    c = contact(db, scope, contact_id)
    return {
        "contact": c,
        "origin": origin(db, c),
        "decisions": decisions(db, c),
        "upload": batch_and_upload(db, c),
        "replies": replies(db, c),
        "crm": crm_deliveries(db, c),
        "suppressed": suppressed(db, c),
    }
