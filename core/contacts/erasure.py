"""A deletion request ("delete my data"): the person goes from every client the caller can see.

1. `plan` says what would go: the person's contacts per client, the Email Bison leads to delete
   (leads our uploads created, and leads the mirror holds under that address), replies, client
   leads and CRM deliveries — the page shows it and asks first.
2. `execute` deletes the leads in Email Bison first (through the client's token; a lead Email
   Bison no longer has counts as gone). If Email Bison refuses, nothing local changes, so the
   request can simply be made again.
3. Then, in one transaction: the address goes on the suppression list (reason
   ``deletion request``), so no future import or pull brings the person back; their contacts,
   their history, the mirror's leads and replies, reply labels, client leads with notes, and
   CRM deliveries with their attempts are deleted; one audit entry says who asked and what went.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.bison import BisonClient
from connectors.http import ApiError, redact
from core.accounts import access
from core.bison import mirror
from core.platform import audit, connections, suppression_store
from core.platform.store import Database

REASON = "deletion request"
ClientFactory = Callable[[int], BisonClient]


class ErasureError(RuntimeError):
    """The request could not be carried out; says why (nothing local changed)."""


def _key(email: str) -> str:
    key = suppression_store.email_key(email)
    if "@" not in key:
        raise ErasureError(f"'{key[:80]}' is not an email address.")
    return key


def plan(db: Database, user: access.User, email: str) -> dict[str, Any]:
    """What a deletion request for this address would remove, per client in the caller's scope.
    (Contacts' addresses are stored lower-cased and trimmed; the mirror's are compared so.)"""
    key = _key(email)
    where = user.scope.filter("w.id")
    rows = db.query(
        f"""
        SELECT w.id AS workspace_id, w.name AS client,
               (SELECT count(*) FROM contacts c WHERE c.workspace_id = w.id
                  AND c.email = $k) AS contacts,
               (SELECT list(DISTINCT x.id) FROM (
                   SELECT bison_lead_id AS id FROM contacts c WHERE c.workspace_id = w.id
                     AND c.email = $k AND bison_lead_id IS NOT NULL
                   UNION SELECT id FROM bison_leads l WHERE l.workspace_id = w.id
                     AND lower(trim(l.email)) = $k) x) AS lead_ids,
               (SELECT count(*) FROM bison_replies r WHERE r.workspace_id = w.id
                  AND lower(trim(r.from_email)) = $k) AS replies,
               (SELECT count(*) FROM client_leads l WHERE l.workspace_id = w.id
                  AND l.email = $k) AS client_leads,
               (SELECT count(*) FROM crm_deliveries d WHERE d.workspace_id = w.id
                  AND d.email = $k) AS crm_deliveries
        FROM workspaces w WHERE {where}
        ORDER BY w.name
        """,
        {"k": key},
    ).to_dicts()
    clients = [
        {**r, "lead_ids": sorted(r["lead_ids"] or [])}
        for r in rows
        if r["contacts"] or r["lead_ids"] or r["replies"] or r["client_leads"]
    ]
    return {
        "email": key,
        "clients": clients,
        "already_suppressed": bool(suppression_store.listed(db, [key])),
        "bison_leads": sum(len(c["lead_ids"]) for c in clients),
    }


def _delete_in_bison(db: Database, factory: ClientFactory | None, wid: int, ids: list[int]) -> int:
    client = (factory or (lambda w: connections.bison_client(db, w)))(wid)
    gone = 0
    try:
        for lead_id in ids:
            try:
                client.delete_lead(lead_id)
            except ApiError as exc:
                if getattr(exc, "status", None) != 404:
                    raise
            gone += 1
    finally:
        client.close()
    return gone


def execute(
    db: Database,
    user: access.User,
    email: str,
    *,
    client_factory: ClientFactory | None = None,
) -> dict[str, Any]:
    """Carry out a deletion request; returns what went (as `plan` counts it, plus the leads
    deleted in Email Bison)."""
    access.require(user, "contacts.manage")
    p = plan(db, user, email)
    key = p["email"]
    deleted_in_bison = 0
    for c in p["clients"]:
        if not c["lead_ids"]:
            continue
        try:
            deleted_in_bison += _delete_in_bison(
                db, client_factory, c["workspace_id"], c["lead_ids"]
            )
        except (ApiError, connections.NotConfigured) as exc:
            raise ErasureError(
                f"Email Bison did not delete the lead for {c['client']} "
                f"({redact(str(exc))[:200]}); nothing was removed here, try again."
            ) from None
    with db.transaction() as cur:
        suppression_store.insert(
            cur,
            [{"email_key": key, "reason": REASON, "detail": "asked for their data to be deleted"}],
            added_by=user.email,
            source="privacy",
        )
        for c in p["clients"]:
            _forget_locally(cur, c["workspace_id"], key, c["lead_ids"])
        audit.record(
            cur,
            actor=user.email,
            action="contact.deletion_request",
            entity="contact",
            entity_id=key,
            after={
                "clients": [
                    {k: c[k] for k in ("client", "contacts", "replies", "client_leads")}
                    | {"bison_leads": len(c["lead_ids"])}
                    for c in p["clients"]
                ],
                "deleted_in_bison": deleted_in_bison,
                "suppressed": True,
            },
        )
    db.bump_version()
    return {**p, "deleted_in_bison": deleted_in_bison}


def _forget_locally(cur: Any, wid: int, key: str, lead_ids: list[int]) -> None:
    batches = [
        r[0]
        for r in cur.execute(
            "SELECT DISTINCT batch_id FROM contacts WHERE workspace_id = ? AND lower(trim(email)) = ?"
            " AND batch_id IS NOT NULL",
            [wid, key],
        ).fetchall()
    ]
    cur.execute(
        "DELETE FROM contact_events WHERE contact_id IN (SELECT id FROM contacts"
        " WHERE workspace_id = ? AND lower(trim(email)) = ?)",
        [wid, key],
    )
    cur.execute(
        "DELETE FROM contacts WHERE workspace_id = ? AND lower(trim(email)) = ?", [wid, key]
    )
    for b in batches:
        cur.execute(
            "UPDATE batches SET contact_count = (SELECT count(*) FROM contacts WHERE batch_id = ?),"
            " uploaded_count = (SELECT count(*) FROM contacts WHERE batch_id = ?"
            " AND status = 'uploaded') WHERE id = ?",
            [b, b, b],
        )
    gone = mirror.forget_person(cur, wid, key, lead_ids)
    if gone["reply_ids"]:
        cur.execute(
            "DELETE FROM reply_labels WHERE workspace_id = ? AND list_contains(?, reply_id)",
            [wid, gone["reply_ids"]],
        )
        cur.execute(
            "DELETE FROM reply_sends WHERE workspace_id = ? AND list_contains(?, reply_id)",
            [wid, gone["reply_ids"]],
        )
    cur.execute("DELETE FROM client_lead_notes WHERE workspace_id = ? AND email = ?", [wid, key])
    cur.execute("DELETE FROM client_leads WHERE workspace_id = ? AND email = ?", [wid, key])
    cur.execute(
        "DELETE FROM crm_attempts WHERE delivery_key IN (SELECT delivery_key FROM crm_deliveries"
        " WHERE workspace_id = ? AND email = ?)",
        [wid, key],
    )
    cur.execute("DELETE FROM crm_deliveries WHERE workspace_id = ? AND email = ?", [wid, key])
