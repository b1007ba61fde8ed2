"""Email Bison jobs: the sync, and minting api-user tokens for clients."""

from __future__ import annotations

from typing import Any

from core.accounts import workspaces
from core.bison import admin as bison_admin
from core.bison import sync as bison_sync
from core.platform import jobs
from core.platform.store import Database


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
        result = bison_sync.sync_bison(
            db,
            workspace_ids=ids,
            full=bool(params.get("full")),
            triggered_by=params.get("actor", "system"),
            progress=lambda msg, i, n: progress.update("syncing", i, n, msg),
        )
    except (bison_sync.SyncError, ValueError) as exc:
        raise jobs.JobError(str(exc)) from None
    # New replies go on to classification, client leads and CRM delivery (the replies domain).
    params = {"workspace_ids": result["workspace_ids"], "ingest": False}
    result["crm"] = jobs.call(db, "replies.process", params, progress)
    failed = {n: r for n, r in result["workspaces"].items() if r["status"] != "succeeded"}
    if failed:
        reasons = "; ".join(f"{n}: {r['error'] or r['status']}" for n, r in failed.items())
        raise jobs.PartialFailure(
            f"Email Bison sync failed for {len(failed)} of {len(result['workspaces'])}"
            f" client(s): {reasons}",
            result,
        )
    return result


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
