"""Client workspaces (one per insurance agent) and package tiers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from core.platform import audit
from core.platform.geo_data import STATES
from core.platform.scope import Scope
from core.platform.store import Database, fetch_one

BILLING_TYPES = ("per_lead", "retainer")
_EDITABLE = (
    "name",
    "contact_email",
    "licensed_states",
    "tier",
    "monthly_target",
    "billing_type",
    "price_per_lead_cents",
    "retainer_cents",
    "home_value_cap",
    "high_net_worth",
    "bison_workspace_id",
    "timezone",
    "active",
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WorkspaceError(ValueError):
    """Invalid workspace input; the message names the field."""


@dataclass
class WorkspaceInput:
    name: str
    contact_email: str | None = None
    licensed_states: list[str] = field(default_factory=list)
    tier: str = "100"
    monthly_target: int | None = None  # defaults to the tier's target
    billing_type: str = "per_lead"
    price_per_lead_cents: int = 0
    retainer_cents: int = 0
    home_value_cap: int = 900_000
    high_net_worth: bool = False
    bison_workspace_id: int | None = None
    timezone: str = "America/New_York"


def tiers(db: Database) -> pl.DataFrame:
    return db.query("SELECT * FROM package_tiers ORDER BY monthly_target")


def update_tier(
    db: Database,
    tier: str,
    *,
    monthly_target: int,
    refined_contacts: int,
    emails_per_day: int,
    actor: str,
) -> None:
    for label, v in (
        ("monthly target", monthly_target),
        ("refined contacts", refined_contacts),
        ("emails per day", emails_per_day),
    ):
        if not isinstance(v, int) or v <= 0:
            raise WorkspaceError(f"Tier {tier}: {label} must be a positive whole number.")
    with db.transaction() as cur:
        before = fetch_one(
            cur,
            "SELECT monthly_target, refined_contacts, emails_per_day FROM package_tiers WHERE tier = ?",
            [tier],
        )
        after = {
            "monthly_target": monthly_target,
            "refined_contacts": refined_contacts,
            "emails_per_day": emails_per_day,
        }
        cur.execute(
            "INSERT INTO package_tiers (tier, monthly_target, refined_contacts, emails_per_day) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tier) DO UPDATE SET monthly_target = excluded.monthly_target,"
            " refined_contacts = excluded.refined_contacts, emails_per_day = excluded.emails_per_day, updated_at = now()",
            [tier, monthly_target, refined_contacts, emails_per_day],
        )
        audit.record(
            cur,
            actor=actor,
            action="tier.update" if before else "tier.create",
            entity="package_tier",
            entity_id=tier,
            before=dict(zip(after, before, strict=True)) if before else None,
            after=after,
        )


def _validate(
    db: Database, values: dict[str, Any], *, current_id: int | None = None
) -> dict[str, Any]:
    v = dict(values)
    if "name" in v:
        name = (v["name"] or "").strip()
        if not name:
            raise WorkspaceError("Name: a client name is required.")
        if len(name) > 200:
            raise WorkspaceError("Name: at most 200 characters.")
        clash = db.scalar("SELECT id FROM workspaces WHERE lower(name) = lower(?)", [name])
        if clash is not None and clash != current_id:
            raise WorkspaceError(f"Name: a client named {name!r} already exists.")
        v["name"] = name
    if v.get("contact_email"):
        email = v["contact_email"].strip()
        if not _EMAIL_RE.match(email):
            raise WorkspaceError(f"Contact email: {email!r} is not an email address.")
        v["contact_email"] = email
    if "licensed_states" in v:
        states = sorted({s.strip().upper() for s in v["licensed_states"] or [] if s and s.strip()})
        bad = [s for s in states if s not in STATES]
        if bad:
            raise WorkspaceError(f"Licensed states: unknown state code(s) {', '.join(bad)}.")
        v["licensed_states"] = states
    if "tier" in v:
        if db.scalar("SELECT count(*) FROM package_tiers WHERE tier = ?", [v["tier"]]) == 0:
            raise WorkspaceError(f"Tier: no package tier named {v['tier']!r}.")
    if "billing_type" in v and v["billing_type"] not in BILLING_TYPES:
        raise WorkspaceError("Billing type: must be per_lead or retainer.")
    for key, label in (
        ("monthly_target", "Monthly target"),
        ("price_per_lead_cents", "Price per lead"),
        ("retainer_cents", "Retainer"),
        ("home_value_cap", "Home value cap"),
    ):
        if key in v and v[key] is not None:
            try:
                v[key] = int(v[key])
            except (TypeError, ValueError):
                raise WorkspaceError(f"{label}: must be a whole number.") from None
            if v[key] < 0:
                raise WorkspaceError(f"{label}: cannot be negative.")
    if v.get("bison_workspace_id") not in (None, ""):
        try:
            v["bison_workspace_id"] = int(v["bison_workspace_id"])
        except (TypeError, ValueError):
            raise WorkspaceError("Email Bison workspace id: must be a number.") from None
    elif "bison_workspace_id" in v:
        v["bison_workspace_id"] = None
    return v


def create(db: Database, data: WorkspaceInput, *, actor: str) -> int:
    values = _validate(db, dict(data.__dict__))
    if values.get("monthly_target") is None:
        values["monthly_target"] = db.scalar(
            "SELECT monthly_target FROM package_tiers WHERE tier = ?", [values["tier"]]
        )
    cols = list(values)
    with db.transaction() as cur:
        new_id = cur.execute(
            f"INSERT INTO workspaces ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) RETURNING id",
            [values[c] for c in cols],
        ).fetchall()[0][0]
        audit.record(
            cur,
            actor=actor,
            action="workspace.create",
            entity="workspace",
            entity_id=new_id,
            after=values,
        )
    return new_id


def get(db: Database, workspace_id: int) -> dict[str, Any] | None:
    df = db.query("SELECT * FROM workspaces WHERE id = ?", [workspace_id])
    return df.row(0, named=True) if df.height else None


def none_yet(db: Database) -> bool:
    """No client has been added (the store is empty of clients)."""
    return db.scalar("SELECT count(*) FROM workspaces") == 0


def find_by_name(db: Database, name: str) -> dict[str, Any] | None:
    """The client called `name`, case and surrounding spaces ignored (None: no such client)."""
    df = db.query("SELECT * FROM workspaces WHERE lower(name) = lower(?)", [name.strip()])
    return df.row(0, named=True) if df.height else None


def id_by_name(db: Database, name: str) -> int | None:
    """The id of the client called `name`, as `find_by_name` finds it (None: no such client)."""
    found = find_by_name(db, name)
    return None if found is None else int(found["id"])


def update(
    db: Database, workspace_id: int, changes: dict[str, Any], *, actor: str
) -> dict[str, Any]:
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise WorkspaceError(f"Cannot change {', '.join(sorted(unknown))}.")
    current = get(db, workspace_id)
    if current is None:
        raise WorkspaceError(f"No client with id {workspace_id}.")
    values = _validate(db, changes, current_id=workspace_id)
    diff = {k: v for k, v in values.items() if current.get(k) != v}
    if not diff:
        return {}
    sets = ", ".join(f"{k} = ?" for k in diff)
    with db.transaction() as cur:
        cur.execute(
            f"UPDATE workspaces SET {sets}, updated_at = now() WHERE id = ?",
            [*diff.values(), workspace_id],
        )
        action = "workspace.update"
        if set(diff) == {"active"}:
            action = "workspace.activate" if diff["active"] else "workspace.deactivate"
        elif set(diff) == {"name"}:
            action = "workspace.rename"
        audit.record(
            cur,
            actor=actor,
            action=action,
            entity="workspace",
            entity_id=workspace_id,
            before={k: current[k] for k in diff},
            after=diff,
        )
    return diff


def list_workspaces(db: Database, *, include_inactive: bool = True) -> pl.DataFrame:
    where = "" if include_inactive else "WHERE w.active"
    return db.query(
        "SELECT w.id, w.name, w.contact_email, array_to_string(w.licensed_states, ', ') AS licensed_states,"
        " w.tier, w.monthly_target, w.billing_type, w.price_per_lead_cents / 100.0 AS price_per_lead,"
        " w.retainer_cents / 100.0 AS retainer, w.home_value_cap, w.high_net_worth, w.bison_workspace_id,"
        " w.active, (SELECT count(*) FROM zip_assignments z WHERE z.workspace_id = w.id) AS zips,"
        " r.last4 AS bison_token_last4, w.created_at"
        " FROM workspaces w LEFT JOIN secret_refs r ON r.name = 'bison.workspace.' || w.id "
        f"{where} ORDER BY w.name"
    )


def names(db: Database, *, active_only: bool = True) -> list[tuple[int, str]]:
    where = "WHERE active" if active_only else ""
    return [(r[0], r[1]) for r in db.rows(f"SELECT id, name FROM workspaces {where} ORDER BY name")]


def labels(db: Database, scope: Scope | None = None, *, active_only: bool = True) -> dict[int, str]:
    """Client id → name in name order, of the clients `scope` allows (every one without a
    scope): a client picker's options (its keys) and their labels."""
    return {w: n for w, n in names(db, active_only=active_only) if scope is None or scope.allows(w)}
