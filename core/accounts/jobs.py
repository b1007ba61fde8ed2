"""Jobs of the accounts domain: add a client, and export a table (scoped to one client)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from core.accounts import workspaces
from core.platform import exports, jobs, secrets
from core.platform.scope import Scope
from core.platform.store import Database


@jobs.job("export")
def export_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    name = params["name"]
    if name not in exports.EXPORTS:
        raise jobs.JobError(f"No export named {name!r}. Run `leadops export --list` for the names.")
    scope = Scope.all()
    if params.get("workspace"):
        ws = workspaces.find_by_name(db, params["workspace"])
        if ws is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        scope = Scope.only([ws["id"]])
    out = Path(params["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:6]}.part")
    progress.update("exporting", 0, None, name)
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        n = exports.export(db, name, scope, fh)
    tmp.replace(out)
    return {"rows": n, "out": str(out)}


@jobs.job("workspace.add")
def add_workspace_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Create a client; a Bison token, if any, waits in the keyring under a pending name."""
    data = workspaces.WorkspaceInput(
        name=params["name"],
        bison_workspace_id=params.get("bison_workspace_id"),
        monthly_target=params.get("goal"),
        tier=str(params.get("tier") or "100"),
        licensed_states=params.get("states") or [],
    )
    try:
        new_id = workspaces.create(db, data, actor=params["actor"])
    except workspaces.WorkspaceError as exc:
        raise jobs.JobError(str(exc)) from None
    masked = None
    pending = params.get("pending_token")
    if pending:
        token = secrets.get_secret(pending)
        if token:
            masked = secrets.set_secret(
                db,
                secrets.bison_token_name(new_id),
                token,
                kind="bison_token",
                actor=params["actor"],
            )
        try:
            secrets.backend().delete_password(secrets.SERVICE, pending)
        except Exception:
            pass
    return {"workspace_id": new_id, "bison_token": masked}
