"""Email Bison administration that needs the agency's super-admin token: minting workspace tokens."""

from __future__ import annotations

import os
from typing import Any

from connectors.bison import BisonClient
from connectors.http import ApiError
from core.platform import audit, connections, secrets
from core.platform.store import Database

SUPER_ADMIN_SECRET = "bison.super_admin"  # where `--super-admin-token` keeps it
SUPER_ADMIN_KIND = "bison_super_admin"


class BisonAdminError(RuntimeError):
    pass


def super_admin_token(db: Database | None = None) -> str:
    """`LEADOPS_BISON_SUPER_TOKEN`, else the newest stored super-admin token (whatever its name;
    without `db`, the one named bison.super_admin)."""
    token = os.environ.get("LEADOPS_BISON_SUPER_TOKEN") or (
        secrets.get_by_kind(db, SUPER_ADMIN_KIND, SUPER_ADMIN_SECRET)
        if db is not None
        else secrets.get_secret(SUPER_ADMIN_SECRET)
    )
    if not token:
        raise BisonAdminError(
            "No Email Bison super-admin token: pass --super-admin-token once (it is kept in the "
            "secret store) or set LEADOPS_BISON_SUPER_TOKEN."
        )
    return token


def clients_without_token(db: Database) -> list[tuple[int, str, int | None]]:
    """Active clients with no Email Bison token yet: (id, name, Bison workspace id or None)."""
    return db.rows(
        "SELECT w.id, w.name, w.bison_workspace_id FROM workspaces w"
        " LEFT JOIN secret_refs r ON r.name = 'bison.workspace.' || w.id"
        " WHERE w.active AND r.name IS NULL ORDER BY w.name"
    )


def super_admin_saved(db: Database) -> str | None:
    """The last 4 characters of the stored super-admin token (None: none stored, or only in
    the environment)."""
    return db.scalar("SELECT last4 FROM secret_refs WHERE name = ?", [SUPER_ADMIN_SECRET])


def generate_missing_tokens(
    db: Database, workspace_ids: list[int] | None, *, actor: str, client: BisonClient | None = None
) -> dict[str, Any]:
    """Mint an api-user token for each chosen workspace that has a Bison id but no token yet."""
    where = (
        "active"
        if workspace_ids is None
        else f"id IN ({', '.join(str(int(i)) for i in workspace_ids) or 'NULL'})"
    )
    rows = db.rows(
        f"SELECT id, name, bison_workspace_id FROM workspaces WHERE {where} ORDER BY name"
    )
    have = {
        r[0] for r in db.rows("SELECT name FROM secret_refs WHERE name LIKE 'bison.workspace.%'")
    }
    minted, skipped = [], []
    admin = client or BisonClient(connections.require_bison_url(db), super_admin_token(db))
    try:
        for wid, name, bison_id in rows:
            if secrets.bison_token_name(wid) in have:
                skipped.append(f"{name}: already has a token")
                continue
            if bison_id is None:
                skipped.append(
                    f"{name}: no Email Bison workspace id (set it in Settings → Clients)"
                )
                continue
            try:
                token = admin.create_workspace_token(int(bison_id), name="leadops")
            except ApiError as exc:
                skipped.append(f"{name}: {exc}")
                continue
            masked = secrets.set_secret(
                db, secrets.bison_token_name(wid), token.token, kind="bison_token", actor=actor
            )
            with db.transaction() as cur:
                audit.record(
                    cur,
                    actor=actor,
                    action="bison.token.generate",
                    entity="workspace",
                    entity_id=wid,
                    after={"bison_workspace_id": bison_id, "token": masked},
                )
            minted.append(f"{name}: {masked}")
    finally:
        if client is None:
            admin.close()
    return {"minted": minted, "skipped": skipped}
