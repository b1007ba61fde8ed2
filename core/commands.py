"""Jobs shared by the CLI and the app (registered in core.platform.jobs). Each takes (db, params, progress)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from core import demo
from core.accounts import workspaces
from core.bison import admin as bison_admin
from core.bison import sync as bison_sync
from core.platform import exports, jobs, secrets
from core.platform.scope import Scope
from core.platform.store import Database


@jobs.job("demo")
def demo_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    as_of = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None
    try:
        counts = demo.load_demo(
            db,
            scale=params.get("scale", "small"),
            seed=int(params.get("seed", 42)),
            as_of=as_of,
            replace=bool(params.get("replace")),
            actor=params.get("actor", "demo"),
            progress=lambda msg, i, n: progress.update(msg, i, n),
        )
    except demo.DemoError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"rows": counts}


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


@jobs.job("sync.bison")
def sync_bison_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    ids = None
    if params.get("workspace"):
        ws = workspaces.find_by_name(db, params["workspace"])
        if ws is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        ids = [ws["id"]]
    elif params.get("workspace_id"):
        ids = [int(params["workspace_id"])]
    progress.update("starting", 0, None, "Email Bison")
    try:
        return bison_sync.sync_bison(
            db,
            workspace_ids=ids,
            full=bool(params.get("full")),
            triggered_by=params.get("actor", "system"),
            progress=lambda msg, i, n: progress.update("syncing", i, n, msg),
        )
    except (bison_sync.SyncError, ValueError) as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("bison.tokens")
def bison_tokens_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    ids = None
    if params.get("workspace"):
        ws = workspaces.find_by_name(db, params["workspace"])
        if ws is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        ids = [ws["id"]]
    progress.update("minting tokens")
    try:
        return bison_admin.generate_missing_tokens(db, ids, actor=params.get("actor", "system"))
    except (bison_admin.BisonAdminError, ValueError) as exc:
        raise jobs.JobError(str(exc)) from None
