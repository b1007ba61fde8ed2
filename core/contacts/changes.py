"""Single changes to a contact: edit a field, move it to another client, delete it.

Every change checks the role (`contacts.manage`) and the caller's scope, writes the contact's
history (contact_events) and one audit entry in the same transaction. A move — and a ZIP edit —
checks the territory: the ZIP must belong to the target client unless the caller confirms it
should go there anyway. A contact already uploaded to Email Bison cannot move (its lead lives in
the other client's workspace); a deletion request removes it everywhere (core/contacts/erasure.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from core.accounts import access
from core.contacts.story import contact
from core.platform import audit
from core.platform.store import Database

EDITABLE = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "cell_phone": "Phone",
    "address": "Address",
    "city": "City",
    "state": "State",
    "zip": "ZIP",
    "home_value": "Home value",
    "purchase_date": "Purchase date",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ChangeError(ValueError):
    """A change that cannot be made as asked; says why."""


class OutsideTerritory(ChangeError):
    """The ZIP does not belong to the client: the caller must confirm."""


def _clean(field: str, value: Any) -> Any:
    label = EDITABLE.get(field)
    if label is None:
        raise ChangeError(f"'{str(field)[:30]}' cannot be edited; fields: {', '.join(EDITABLE)}.")
    text = "" if value is None else str(value).strip()
    if field == "email":
        if not _EMAIL.fullmatch(text):
            raise ChangeError(f"{label}: '{text[:80]}' is not an email address.")
        return text.lower()  # stored as imports store it, so searches and rules match it
    if field == "zip":
        if not re.fullmatch(r"\d{5}", text):
            raise ChangeError(f"{label}: '{text[:20]}' is not a five-digit ZIP code.")
        return text
    if field == "state":
        if not re.fullmatch(r"[A-Za-z]{2}", text):
            raise ChangeError(f"{label}: '{text[:20]}' is not a two-letter state.")
        return text.upper()
    if field == "home_value":
        digits = text.replace(",", "").replace("$", "")
        if not digits.isdigit():
            raise ChangeError(f"{label}: '{text[:20]}' is not a whole number of dollars.")
        return int(digits)
    if field == "purchase_date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ChangeError(f"{label}: '{text[:20]}' is not a date (YYYY-MM-DD).") from None
    if len(text) > 200:
        raise ChangeError(f"{label}: at most 200 characters.")
    return text or None


def zip_owners(db: Database, zip_code: str) -> list[str]:
    return [
        r[0]
        for r in db.rows(
            "SELECT w.name FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id"
            " WHERE a.zip = ? ORDER BY w.name",
            [zip_code],
        )
    ]


def check_territory(db: Database, workspace_id: int, zip_code: str | None) -> None:
    """OutsideTerritory when the ZIP is not one of the client's (naming who owns it)."""
    owned = db.scalar(
        "SELECT count(*) FROM zip_assignments WHERE workspace_id = ? AND zip = ?",
        [workspace_id, zip_code or ""],
    )
    if owned:
        return
    name = db.scalar("SELECT name FROM workspaces WHERE id = ?", [workspace_id])
    owners = zip_owners(db, zip_code or "")
    raise OutsideTerritory(
        f"ZIP {zip_code or '(none)'} is not in {name}'s territory"
        + (f" (it belongs to {', '.join(owners)})." if owners else " (no client owns it).")
    )


def edit(
    db: Database,
    user: access.User,
    contact_id: int,
    field: str,
    value: Any,
    *,
    outside_territory: bool = False,
) -> dict[str, Any]:
    """Change one field; returns {field, before, after}. A ZIP outside the client's territory
    needs `outside_territory`."""
    access.require(user, "contacts.manage")
    c = contact(db, user.scope, contact_id)
    new = _clean(field, value)
    if field == "zip" and not outside_territory:
        check_territory(db, c["workspace_id"], new)
    old = c[field]
    if old == new:
        return {"field": field, "before": old, "after": new, "changed": False}
    with db.transaction() as cur:
        cur.execute(
            f"UPDATE contacts SET {field} = ?, updated_at = now() WHERE id = ?",  # noqa: S608 (field is one of EDITABLE)
            [new, c["id"]],
        )
        _event(cur, c, "edit", field, f"{_show(old)} → {_show(new)}", user.email)
        audit.record(
            cur,
            actor=user.email,
            action="contact.edit",
            entity="contact",
            entity_id=c["id"],
            before={field: old},
            after={field: new},
        )
    return {"field": field, "before": old, "after": new, "changed": True}


def move(
    db: Database,
    user: access.User,
    contact_id: int,
    workspace_id: int,
    *,
    outside_territory: bool = False,
) -> dict[str, Any]:
    """Move a contact to another client. It goes back to `raw` (the new client's rules decide)
    and leaves its batch. Refused once uploaded; a ZIP outside the target's territory needs
    `outside_territory`."""
    access.require(user, "contacts.manage")
    c = contact(db, user.scope, contact_id)
    if not user.scope.allows(int(workspace_id)):
        raise ChangeError("You cannot move contacts to that client.")
    target = db.scalar("SELECT name FROM workspaces WHERE id = ?", [int(workspace_id)])
    if target is None:
        raise ChangeError(f"No client {workspace_id}.")
    if int(workspace_id) == c["workspace_id"]:
        raise ChangeError(f"The contact already belongs to {target}.")
    if c["status"] == "uploaded" or c.get("bison_lead_id") is not None:
        raise ChangeError(
            f"The contact is uploaded to Email Bison for {c['client']}: revert its batch's upload"
            " first, or make a deletion request to remove it everywhere."
        )
    if not outside_territory:
        check_territory(db, int(workspace_id), c["zip"])
    with db.transaction() as cur:
        cur.execute(
            "UPDATE contacts SET workspace_id = ?, status = 'raw', reject_reason = NULL,"
            " batch_id = NULL, routed_from = NULL, updated_at = now() WHERE id = ?",
            [int(workspace_id), c["id"]],
        )
        if c["batch_id"] is not None:
            cur.execute(
                "UPDATE batches SET contact_count = (SELECT count(*) FROM contacts"
                " WHERE batch_id = ?) WHERE id = ?",
                [c["batch_id"], c["batch_id"]],
            )
        note = f"from {c['client']} to {target}" + (
            " (outside its territory, confirmed)" if outside_territory else ""
        )
        _event(cur, {**c, "workspace_id": int(workspace_id)}, "move", "client", note, user.email)
        audit.record(
            cur,
            actor=user.email,
            action="contact.move",
            entity="contact",
            entity_id=c["id"],
            before={"client": c["client"], "status": c["status"], "batch_id": c["batch_id"]},
            after={"client": target, "status": "raw", "outside_territory": outside_territory},
        )
    return {"from": c["client"], "to": target}


def delete(db: Database, user: access.User, contact_id: int) -> dict[str, Any]:
    """Delete one contact record (a mistaken import, a duplicate). Its Email Bison lead, if any,
    stays: a person asking for their data to go is a deletion request."""
    access.require(user, "contacts.manage")
    c = contact(db, user.scope, contact_id)
    with db.transaction() as cur:
        cur.execute("DELETE FROM contact_events WHERE contact_id = ?", [c["id"]])
        cur.execute("DELETE FROM contacts WHERE id = ?", [c["id"]])
        if c["batch_id"] is not None:
            cur.execute(
                "UPDATE batches SET contact_count = (SELECT count(*) FROM contacts"
                " WHERE batch_id = ?), uploaded_count = (SELECT count(*) FROM contacts"
                " WHERE batch_id = ? AND status = 'uploaded') WHERE id = ?",
                [c["batch_id"], c["batch_id"], c["batch_id"]],
            )
        audit.record(
            cur,
            actor=user.email,
            action="contact.delete",
            entity="contact",
            entity_id=c["id"],
            before={k: c[k] for k in ("client", "email", "status", "batch_id", "bison_lead_id")},
        )
    return {"deleted": c["id"], "client": c["client"], "bison_lead_id": c.get("bison_lead_id")}


def _event(cur: Any, c: dict[str, Any], kind: str, rule: str, reason: str, actor: str) -> None:
    cur.execute(
        "INSERT INTO contact_events (contact_id, workspace_id, kind, rule, reason, actor)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [c["id"], c["workspace_id"], kind, rule, reason[:300], actor],
    )


def _show(v: Any) -> str:
    return "(empty)" if v is None or v == "" else str(v)[:80]
