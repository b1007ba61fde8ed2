"""The pipeline's jobs: contact imports, one run, every pending client, the Monday evergreen step,
filling a gap from the master database, the suppression list's changes, a client's upload
campaigns and the filter rules."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from core.accounts import access
from core.pipeline import (
    filters,
    gap,
    import_files,
    import_outcome,
    master_db,
    run_check,
    suppression,
    uploads,
)
from core.pipeline import runs as pipeline
from core.pipeline.contact_import import ContactImportError, import_file
from core.platform import exports, jobs, suppression_store
from core.platform.store import Database


@jobs.job("contacts.import")
def import_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    import_files.touch(params["path"])
    try:
        wid = pipeline.resolve_workspace(db, params)
        month = pipeline.parse_month(params["month"]) if params.get("month") else None
        result = import_file(
            db,
            wid,
            params["path"],
            actor=params.get("actor", "system"),
            filename=params.get("filename") or Path(params["path"]).name,
            renewal_month=month,
            mapping=params.get("mapping") or None,
            progress=lambda stage, done, total: progress.update(stage, done, total),
        )
        told = import_outcome.summary(import_outcome.outcome(db, result["import_id"]))
        return {**result, "outcome": told}
    except ContactImportError as exc:
        raise jobs.JobError(str(exc)) from None
    finally:  # a page's upload is kept until its import has run, whatever the outcome
        import_files.release(import_files.staged_digest(params["path"]))


@jobs.job("pipeline.run")
def run_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    run_id = params.get("run_id")
    if run_id is None:
        wid = pipeline.resolve_workspace(db, params)
        month = pipeline.parse_month(params["month"])
        from_stage = params.get("from_stage") or "filter"
        reason = run_check.why_not(db, wid, month, from_stage)  # the Run button's reason
        if reason:
            raise pipeline.PipelineError(reason)
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


# -- the suppression list (`leadops suppression …`) -------------------------------------------


def _local_admin(params: dict[str, Any]) -> access.User:
    """Whoever runs the command line on the server works as a local admin (like local mode)."""
    return access.User(params.get("actor") or "local", "admin", local=True)


@jobs.job("suppression.import")
def suppression_import_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    progress.update("reading", 0, None, Path(params["path"]).name)
    try:
        return suppression.import_file(
            db, _local_admin(params), params["path"], reason=params.get("reason")
        )
    except ContactImportError as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("suppression.add")
def suppression_add_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    try:
        return suppression.add_addresses(
            db, _local_admin(params), params.get("emails") or [], params.get("reason")
        )
    except suppression.SuppressionError as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("suppression.remove")
def suppression_remove_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    try:
        return suppression.remove_addresses(
            db, _local_admin(params), params.get("emails") or [], params.get("reason")
        )
    except suppression.SuppressionError as exc:
        raise jobs.JobError(str(exc)) from None


@jobs.job("suppression.list")
def suppression_list_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Write the list as CSV (the shared formula-safe writer) to `out`: all of it, or what
    matches `search` (part of an address or of its detail), `reason` and `source`."""
    out = Path(params["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:6]}.part")
    sql, args = suppression.SUPPRESSION_SQL, None
    if params.get("search") or params.get("reason") or params.get("source"):
        sql, args = suppression.search_sql(
            params.get("search"), reason=params.get("reason"), source=params.get("source")
        )
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        n = exports.stream_query(db, sql, args, fh)
    tmp.replace(out)
    return {"rows": n, "out": str(out)}


@jobs.job("suppression.counts")
def suppression_counts_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """How many addresses are listed per reason and source."""
    df = suppression_store.counts_by_reason(db)
    return {"counts": [{**r, "newest": str(r["newest"])} for r in df.to_dicts()]}


# -- upload campaigns and filter rules from the shell (`leadops pipeline campaigns`, `filters`) --


@jobs.job("pipeline.campaigns")
def campaigns_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """Choose a client's upload and/or evergreen campaign (by id or name), as the Pipeline page
    does; with neither, only report the choice and the campaigns synced."""
    wid = pipeline.resolve_workspace(db, params)
    try:
        chosen = uploads.choose_campaigns(
            db,
            _local_admin(params),
            wid,
            upload=params.get("upload"),
            evergreen=params.get("evergreen"),
        )
    except uploads.UploadError as exc:
        raise jobs.JobError(str(exc)) from None
    known = uploads.known_campaigns(db, wid)
    names = dict(known.iter_rows())
    return {
        "workspace": pipeline._name(db, wid),
        "changed": params.get("upload") is not None or params.get("evergreen") is not None,
        **{
            key: {"id": cid, "name": names.get(cid)}
            for key, cid in (
                ("upload", chosen["upload_campaign_id"]),
                ("evergreen", chosen["evergreen_campaign_id"]),
            )
        },
        "known": [{"id": i, "name": n} for i, n in known.iter_rows()],
    }


def _rule_rows(db: Database) -> list[dict[str, Any]]:
    df = filters.list_rules(db).select(
        "id", "applies_to", "name", "field", "operator", "value", "enabled", "position"
    )
    return df.to_dicts()


@jobs.job("filters.list")
def filters_list_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    return {"rules": _rule_rows(db)}


@jobs.job("filters.add")
def filters_add_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    wid = pipeline.resolve_workspace(db, params) if params.get("workspace") else None
    try:
        rule_id = filters.save_rule(
            db,
            _local_admin(params),
            name=params.get("name") or "",
            field=params.get("field") or "",
            operator=params.get("operator") or "",
            value=params.get("value") or None,
            enabled=bool(params.get("enabled", True)),
            workspace_id=wid,
            position=int(params.get("position") or 100),
        )
    except filters.RuleError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"id": rule_id, "rules": _rule_rows(db)}


@jobs.job("filters.edit")
def filters_edit_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Change the parts of a rule (by id or name) that are given; `workspace` "all" makes it
    apply to every client."""
    changes: dict[str, Any] = {
        k: params[k]
        for k in ("name", "field", "operator", "value", "position")
        if params.get(k) is not None
    }
    if params.get("workspace"):
        all_clients = params["workspace"].strip().lower() == "all"
        changes["workspace_id"] = None if all_clients else pipeline.resolve_workspace(db, params)
    if not changes:
        raise jobs.JobError("Say what to change (--name, --field, --operator, --value, …).")
    try:
        rule_id = filters.resolve_rule(db, params["rule"])
        rule = filters.edit_rule(db, _local_admin(params), rule_id, **changes)
    except filters.RuleError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"id": rule_id, "rule": {k: rule[k] for k in ("name", "field", "operator", "value")}}


@jobs.job("filters.enable")
def filters_enable_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Switch a rule (by id or name) on (`enabled` true) or off."""
    try:
        rule_id = filters.resolve_rule(db, params["rule"])
        changed = filters.set_enabled(
            db, _local_admin(params), rule_id, bool(params.get("enabled", True))
        )
    except filters.RuleError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"id": rule_id, "changed": changed, "enabled": bool(params.get("enabled", True))}


@jobs.job("filters.remove")
def filters_remove_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    try:
        rule_id = filters.resolve_rule(db, params["rule"])
    except filters.RuleError as exc:
        raise jobs.JobError(str(exc)) from None
    name = db.scalar("SELECT name FROM filter_rules WHERE id = ?", [rule_id])
    filters.delete_rule(db, _local_admin(params), rule_id)
    return {"id": rule_id, "name": name}


# -- the month board (`leadops board`) ---------------------------------------------------------


@jobs.job("pipeline.board")
def board_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    from core.pipeline import board
    from core.platform.scope import Scope

    month = pipeline.parse_month(params["month"])
    today = dt.date.fromisoformat(params["today"]) if params.get("today") else None
    df = board.month_board(db, Scope.all(), month, today=today)
    return {"month": str(month), "rows": df.to_dicts()}


@jobs.job("pipeline.pull_plan")
def pull_plan_job(db: Database, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    from core.pipeline import board

    wid = pipeline.resolve_workspace(db, params)
    try:
        return board.pull_plan(db, wid, pipeline.parse_month(params["month"]))
    except master_db.MasterDbError as exc:
        raise jobs.JobError(str(exc)) from None
