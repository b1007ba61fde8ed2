"""Who may do what: roles, the pages and actions each role has, users and their workspace scope.

Roles:
* admin    — everything.
* operator — runs the work: campaigns, sending accounts, syncs (and, as they arrive, pipeline,
             territories, replies) and reads revenue; no credentials, users or settings.
* viewer   — reads every operational page (revenue included) and exports; changes nothing.
* client   — one workspace: its own overview, campaigns, replies and leads (moving its own leads'
             stages and adding notes), nothing of other clients.
Revenue changes (manual cost lines, Stripe customer mapping, snapshots) are admin-only.

Pages hide what a role may not use, and the core enforces it again: a user's `scope` limits every
query to the workspaces they may see, and `require` guards every write.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from core.platform import audit
from core.platform.scope import Scope
from core.platform.store import Database

ROLES = ("admin", "operator", "viewer", "client")

PAGES: dict[str, tuple[str, ...]] = {
    "overview": ("admin", "operator", "viewer", "client"),
    "pipeline": ("admin", "operator", "viewer"),
    "month_board": ("admin", "operator", "viewer"),
    "contacts": ("admin", "operator", "viewer"),
    "campaigns": ("admin", "operator", "viewer", "client"),
    "replies": ("admin", "operator", "viewer", "client"),
    "client_leads": ("admin", "operator", "viewer", "client"),
    "copy_lab": ("admin", "operator", "viewer"),
    "sending_accounts": ("admin", "operator", "viewer"),
    "alerts": ("admin", "operator", "viewer"),
    "territories": ("admin", "operator", "viewer"),
    "data_sync": ("admin", "operator", "viewer"),
    "revenue": ("admin", "operator", "viewer"),
    "audit_log": ("admin",),
    "settings": ("admin",),
}

ACTIONS: dict[str, tuple[str, ...]] = {
    "export": ("admin", "operator", "viewer", "client"),
    "campaign.act": ("admin", "operator"),
    "sync.run": ("admin", "operator"),
    "alerts.run": ("admin", "operator"),
    "alerts.ack": ("admin", "operator"),
    "alerts.configure": ("admin",),
    "reports.send": ("admin", "operator"),
    "replies.manage": ("admin", "operator"),
    "leads.manage": ("admin", "operator", "client"),
    "crm.deliver": ("admin", "operator"),
    "crm.manage": ("admin",),
    "territory.manage": ("admin", "operator"),
    "pipeline.run": ("admin", "operator"),
    "pipeline.import": ("admin", "operator"),
    "pipeline.rules": ("admin",),
    "contacts.manage": ("admin", "operator"),
    "demo.load": ("admin",),
    "revenue.manage": ("admin",),
    "workspace.manage": ("admin",),
    "settings.manage": ("admin",),
    "users.manage": ("admin",),
    "secrets.manage": ("admin",),
    "audit.view": ("admin",),
}

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PermissionDenied(PermissionError):
    pass


class UserError(ValueError):
    pass


class SignInRefused(PermissionDenied):
    """The identity provider's own claims rule a sign-in out (an email it has not verified)."""


@dataclass(frozen=True)
class User:
    email: str
    role: str
    workspace_id: int | None = None
    name: str | None = None
    local: bool = False

    @property
    def scope(self) -> Scope:
        if self.role == "client":
            return Scope.only([self.workspace_id] if self.workspace_id is not None else [])
        return Scope.all()

    def can(self, action: str) -> bool:
        return self.role in ACTIONS.get(action, ())

    def can_see(self, page: str) -> bool:
        return self.role in PAGES.get(page, ())


LOCAL_ADMIN = User(email="local", role="admin", name="Local user", local=True)


def require(user: User, action: str) -> None:
    if not user.can(action):
        raise PermissionDenied(f"Your role ({user.role}) may not {action.replace('.', ' ')}.")


def _admin_emails() -> set[str]:
    return {
        e.strip().lower()
        for e in os.environ.get("LEADOPS_ADMIN_EMAILS", "").split(",")
        if e.strip()
    }


def resolve(db: Database, email: str | None, name: str | None = None) -> User | None:
    """The active user for a signed-in email; bootstrap admins from LEADOPS_ADMIN_EMAILS."""
    if not email:
        return None
    email = email.strip().lower()
    rows = db.rows("SELECT role, workspace_id, name, active FROM users WHERE email = ?", [email])
    if not rows and email in _admin_emails():
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO users (email, name, role, invited_by) VALUES (?, ?, 'admin', 'LEADOPS_ADMIN_EMAILS')"
                " ON CONFLICT DO NOTHING",
                [email, name],
            )
            audit.record(
                cur,
                actor="system",
                action="user.bootstrap",
                entity="user",
                entity_id=email,
                after={"role": "admin"},
            )
        rows = [("admin", None, name, True)]
    if not rows or not rows[0][3]:
        return None
    role, wid, stored_name, _ = rows[0]
    return User(email=email, role=role, workspace_id=wid, name=stored_name or name)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def from_oidc(db: Database, claims: Mapping[str, Any]) -> User | None:
    """The LeadOps user for a signed-in OpenID Connect identity (the claims in `st.user`), or
    None when that email has no access.

    Raises SignInRefused when the provider says the email is not verified (`email_verified`
    present and not true, as a boolean or the string some providers send): such a provider lets
    anyone put any address on an account, so the address proves nothing; it is refused before
    anything else, a bootstrap admin address included. A provider that does not send the claim
    at all (it verifies every address, or says nothing) is taken at its word.
    """
    email = claims.get("email")
    verified = claims.get("email_verified")
    if verified is not None and not _is_true(verified):
        raise SignInRefused(
            f"Your identity provider says the email address {email or '(none)'} is not verified, "
            "so it cannot be used to sign in to LeadOps. Verify the address with your identity "
            "provider (or sign in with a verified account), then sign in again."
        )
    name = claims.get("name")
    return resolve(
        db, email if isinstance(email, str) else None, name if isinstance(name, str) else None
    )


def touch(db: Database, email: str) -> None:
    """Record that a user was seen (once per session; not audited, not a data change)."""
    with db.cursor() as cur:
        cur.execute("UPDATE users SET last_seen_at = now() WHERE email = ?", [email.lower()])


def list_users(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT u.email, u.name, u.role, w.name AS client, u.active, u.invited_by, u.invited_at, u.last_seen_at"
        " FROM users u LEFT JOIN workspaces w ON w.id = u.workspace_id ORDER BY u.active DESC, u.email"
    )


def _validate(
    db: Database, email: str, role: str, workspace_id: int | None
) -> tuple[str, int | None]:
    email = (email or "").strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 320:
        raise UserError(f"Email: {email!r} is not an email address.")
    if role not in ROLES:
        raise UserError(f"Role: must be one of {', '.join(ROLES)}.")
    if role == "client":
        if workspace_id is None or not db.scalar(
            "SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]
        ):
            raise UserError(
                "Client: a client user belongs to exactly one client workspace; pick it."
            )
    else:
        workspace_id = None
    return email, workspace_id


def invite(
    db: Database,
    by: User,
    email: str,
    role: str,
    *,
    workspace_id: int | None = None,
    name: str | None = None,
) -> str:
    require(by, "users.manage")
    email, workspace_id = _validate(db, email, role, workspace_id)
    if db.scalar("SELECT count(*) FROM users WHERE email = ?", [email]):
        raise UserError(f"Email: {email} already has access; change their role instead.")
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO users (email, name, role, workspace_id, invited_by) VALUES (?, ?, ?, ?, ?)",
            [email, name or None, role, workspace_id, by.email],
        )
        audit.record(
            cur,
            actor=by.email,
            action="user.invite",
            entity="user",
            entity_id=email,
            after={"role": role, "workspace_id": workspace_id},
        )
    return email


def update(
    db: Database,
    by: User,
    email: str,
    *,
    role: str | None = None,
    workspace_id: int | None = None,
    active: bool | None = None,
) -> dict:
    require(by, "users.manage")
    email = email.strip().lower()
    cur_row = db.query("SELECT role, workspace_id, active FROM users WHERE email = ?", [email])
    if cur_row.height == 0:
        raise UserError(f"No user {email}.")
    before = cur_row.row(0, named=True)
    new_role = role or before["role"]
    _, new_ws = _validate(
        db, email, new_role, workspace_id if workspace_id is not None else before["workspace_id"]
    )
    after = {
        "role": new_role,
        "workspace_id": new_ws,
        "active": before["active"] if active is None else active,
    }
    if email == by.email and (after["role"] != "admin" or not after["active"]):
        raise UserError("You cannot remove your own admin access; ask another admin.")
    if before["role"] == "admin" and (after["role"] != "admin" or not after["active"]):
        admins = db.scalar(
            "SELECT count(*) FROM users WHERE role = 'admin' AND active AND email <> ?", [email]
        )
        if not admins and not _admin_emails():
            raise UserError("This is the last active admin; make someone else admin first.")
    diff = {k: v for k, v in after.items() if before[k] != v}
    if not diff:
        return {}
    with db.transaction() as cur:
        cur.execute(
            "UPDATE users SET role = ?, workspace_id = ?, active = ? WHERE email = ?",
            [after["role"], after["workspace_id"], after["active"], email],
        )
        action = (
            "user.deactivate"
            if diff == {"active": False}
            else ("user.activate" if diff == {"active": True} else "user.update")
        )
        audit.record(
            cur,
            actor=by.email,
            action=action,
            entity="user",
            entity_id=email,
            before={k: before[k] for k in diff},
            after=diff,
        )
    return diff
