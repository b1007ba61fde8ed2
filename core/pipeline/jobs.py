"""The pipeline's jobs: contact imports, one run, every pending client, the Monday evergreen step
and filling a gap from the master database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from core.accounts import access
from core.pipeline import gap, master_db, uploads
from core.pipeline import runs as pipeline
from core.pipeline.contact_import import ContactImportError, import_file
from core.platform import jobs
from core.platform.store import Database


@jobs.job("contacts.import")
def import_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    wid = pipeline.resolve_workspace(db, params)
    month = pipeline.parse_month(params["month"]) if params.get("month") else None
    try:
        return import_file(
            db,
            wid,
            params["path"],
            actor=params.get("actor", "system"),
            filename=params.get("filename") or Path(params["path"]).name,
            renewal_month=month,
            mapping=params.get("mapping") or None,
            progress=lambda stage, done, total: progress.update(stage, done, total),
        )
    except ContactImportError as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("pipeline.run")
def run_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    run_id = params.get("run_id")
    if run_id is None:
        wid = pipeline.resolve_workspace(db, params)
        month = pipeline.parse_month(params["month"])
        from_stage = params.get("from_stage") or "filter"
        run_id = pipeline.create_run(db, wid, month, from_stage, params.get("actor", "system"))
    return pipeline.execute_run(db, int(run_id), progress)


@jobs.job("pipeline.process_all")
def process_all_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    month = pipeline.parse_month(params["month"])
    from_stage = params.get("from_stage") or "filter"
    if from_stage == "filter":
        ids = pipeline.pending_workspaces(db, month)
    else:
        ids = pipeline.workspaces_with_uploads_pending(db, month)
    out: dict[str, Any] = {"succeeded": [], "failed": [], "skipped": []}
    for i, wid in enumerate(ids):
        name = pipeline._name(db, wid)
        progress.update("clients", i, len(ids), name)
        try:
            run_id = pipeline.create_run(db, wid, month, from_stage, params.get("actor", "system"))
        except pipeline.PipelineError as exc:
            out["skipped"].append(f"{name}: {exc}")
            continue
        db.execute("UPDATE pipeline_runs SET job_id = ? WHERE id = ?", [progress.job_id, run_id])
        try:
            pipeline.execute_run(db, run_id, progress)
            out["succeeded"].append(name)
        except pipeline.PipelineError as exc:
            out["failed"].append(f"{name}: {exc}")
    progress.update("clients", len(ids), len(ids), None)
    if out["failed"]:
        raise jobs.PartialFailure(
            f"The pipeline failed for {len(out['failed'])} of {len(ids)} client(s): "
            + "; ".join(out["failed"]),
            out,
        )
    return out


@jobs.job("pipeline.evergreen")
def evergreen_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    wid = None
    if params.get("workspace") or params.get("workspace_id"):
        wid = pipeline.resolve_workspace(db, params)
    today = dt.date.fromisoformat(params["today"]) if params.get("today") else None
    progress.update("evergreen")
    return uploads.evergreen(db, workspace_id=wid, today=today)


@jobs.job("pipeline.fill_gap")
def fill_gap_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """Pull the recommended number of contacts from the master database, then run the pipeline."""
    wid = pipeline.resolve_workspace(db, params)
    month = pipeline.parse_month(params["month"])
    want = int(params.get("count") or gap.gap_to_goal(db, wid, month)["recommended_pull"])
    if want <= 0:
        return {"pulled": 0, "message": "No gap to fill."}
    user = access.User(params.get("actor", "system"), "operator")
    try:
        pulled = master_db.pull(
            db, user, wid, want, month, progress=lambda d, t, m: progress.update("pull", d, t, m)
        )
    except master_db.MasterDbError as exc:
        raise pipeline.PipelineError(str(exc)) from None
    run_id = pipeline.create_run(db, wid, month, "filter", user.email)
    db.execute("UPDATE pipeline_runs SET job_id = ? WHERE id = ?", [progress.job_id, run_id])
    result = pipeline.execute_run(db, run_id, progress)
    return {"pulled": pulled["pulled"], "imported": pulled["imported"], **result}
