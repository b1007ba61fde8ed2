"""What an insurance agent needs on one client lead: how to reach them, the home, when the policy
renews, and who owns the ZIP code (the contact row it came from, and the territory)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.platform.scope import Scope
from core.platform.store import Database
from core.replies.client_leads import normalise_email


def next_renewal(
    purchase_date: dt.date | None, renewal_month: dt.date | None, today: dt.date
) -> tuple[dt.date | None, str]:
    """The next renewal on or after `today`: the purchase date's next anniversary when it is
    known ("day"), else the first day of the renewal month from the import ("month"), else
    (None, "")."""
    if purchase_date is not None:
        day = min(purchase_date.day, 28) if purchase_date.month == 2 else purchase_date.day
        nxt = dt.date(today.year, purchase_date.month, day)
        if nxt < today:
            nxt = dt.date(today.year + 1, purchase_date.month, day)
        return nxt, "day"
    if renewal_month is not None:
        return renewal_month, "month"
    return None, ""


def lead_record(
    db: Database, scope: Scope, workspace_id: int, email: str, *, today: dt.date | None = None
) -> dict[str, Any]:
    """The lead's contact details for this client, {} when the lead is not in scope or unknown.

    Keys: email, name, phone, address (street), city, state, zip, home_value, purchase_date,
    renewal (next renewal date or month), renewal_kind ("day" or "month" or ""), zip_owners
    (names of the clients whose territory holds the ZIP, sorted), owns_zip (this client is one
    of them), found (a contact row matched; without one only email and name are known).
    """
    if not scope.allows(workspace_id):
        return {}
    email = normalise_email(email)
    lead = db.query(
        "SELECT c.email, trim(concat_ws(' ', c.first_name, c.last_name)) AS name"
        " FROM client_leads c WHERE c.workspace_id = ? AND c.email = ?",
        [workspace_id, email],
    )
    if lead.height == 0:
        return {}
    out: dict[str, Any] = {"email": email, "name": lead["name"][0] or None, "found": False}
    contact = db.query(
        """
        SELECT first_name, last_name, cell_phone AS phone, address, city, state, zip, home_value,
               purchase_date, renewal_month
        FROM contacts WHERE workspace_id = ? AND lower(trim(email)) = ?
        ORDER BY updated_at DESC, id DESC LIMIT 1
        """,
        [workspace_id, email],
    )
    row = contact.row(0, named=True) if contact.height else {}
    for key in ("phone", "address", "city", "state", "zip"):
        out[key] = row.get(key) or None
    out["found"] = bool(row)
    out["home_value"] = row.get("home_value")
    out["purchase_date"] = row.get("purchase_date")
    renewal, kind = next_renewal(
        row.get("purchase_date"), row.get("renewal_month"), today or dt.date.today()
    )
    out["renewal"], out["renewal_kind"] = renewal, kind
    owners: list[tuple[int, str]] = []
    if out["zip"]:
        owners = db.rows(
            "SELECT a.workspace_id, w.name FROM zip_assignments a JOIN workspaces w"
            " ON w.id = a.workspace_id WHERE a.zip = ? ORDER BY w.name",
            [str(out["zip"])[:5]],
        )
    visible = [(w, n) for w, n in owners if scope.allows(w)]
    out["zip_owners"] = [n for _, n in visible]
    out["zip_owned_elsewhere"] = len(owners) > len(visible)  # by a client this user cannot see
    out["owns_zip"] = any(w == workspace_id for w, _ in owners)
    return out
