"""Pipeline runs: filter → verify → batch → upload for one client and renewal month, as a job.

Every run is a `pipeline_runs` row with one `pipeline_stage_runs` row per stage (status, done/
total, input/output counts, error). One run per client at a time. A failed or cancelled run is
retried from its failed stage as a new run; stages are idempotent, so a retry never duplicates
contacts, batches or uploads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import polars as pl

from core.accounts import access, workspaces
from core.pipeline import batching, filters, notices, uploads, verification
from core.platform import audit, jobs
from core.platform.store import Database

STAGES = ("filter", "verify", "batch", "upload")
ACTIVE = ("queued", "running")


class PipelineError(jobs.JobError):
    pass


def parse_month(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value.replace(day=1)
    try:
        return dt.date.fromisoformat(f"{value.strip()[:7]}-01")
    except ValueError:
        raise PipelineError(f"Month {value!r} is not like 2027-02.") from None


def active_run(db: Database, workspace_id: int) -> dict[str, Any] | None:
    """The client's queued or running run, if its job is alive; stale ones are closed."""
    df = db.query(
        "SELECT id, job_id, date_diff('second', created_at, now()) AS age FROM pipeline_runs"
        " WHERE workspace_id = ? AND status IN ('queued', 'running')",
        [workspace_id],
    )
    for r in df.iter_rows(named=True):
        st = jobs.status(db, r["job_id"]) if r["job_id"] else None
        if (st and st["status"] in ACTIVE) or (st is None and r["age"] < 60):
            return r
        db.execute(
            "UPDATE pipeline_runs SET status = 'failed', finished_at = now(),"
            " error = coalesce(error, 'Interrupted: the process running it stopped.') WHERE id = ?",
            [r["id"]],
        )
        db.execute(
            "UPDATE pipeline_stage_runs SET status = 'failed', error = 'Interrupted'"
            " WHERE run_id = ? AND status = 'running'",
            [r["id"]],
        )
    return None


def create_run(
    db: Database,
    workspace_id: int,
    month: dt.date,
    from_stage: str,
    actor: str,
    retry_of: int | None = None,
) -> int:
    if from_stage not in STAGES:
        raise PipelineError(f"Stage {from_stage!r} is not one of {', '.join(STAGES)}.")
    start = STAGES.index(from_stage)
    # The check and the insert hold the writer together: two clicks cannot both pass the check.
    with db.writer, db.transaction() as cur:
        if active_run(db, workspace_id):
            name = db.scalar("SELECT name FROM workspaces WHERE id = ?", [workspace_id])
            raise PipelineError(
                f"A pipeline run for {name} is already in progress; wait or cancel it."
            )
        run_id = cur.execute(
            "INSERT INTO pipeline_runs (workspace_id, month, from_stage, requested_by, retry_of)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            [workspace_id, month, from_stage, actor, retry_of],
        ).fetchall()[0][0]
        for i, stage in enumerate(STAGES):
            cur.execute(
                "INSERT INTO pipeline_stage_runs (run_id, stage, position, status) VALUES (?, ?, ?, ?)",
                [run_id, stage, i, "skipped" if i < start else "pending"],
            )
        audit.record(
            cur,
            actor=actor,
            action="pipeline.run",
            entity="workspace",
            entity_id=workspace_id,
            after={"run": run_id, "month": str(month), "from_stage": from_stage},
        )
    return int(run_id)


StageFn = Callable[..., dict[str, Any]]

# Contacts of the month already past a stage, not yet uploaded, when it starts (left by an
# earlier run, an import or a cancelled stage). A later stage of the run takes them, so they
# pass through this one: they count in its "in" and its "out" (`carried_in`, which pass rates
# leave out). That way one run's counts chain: each stage's "in" is the previous stage's "out".
CARRIED = {
    "filter": "status IN ('filtered', 'verifying', 'verified', 'batched')",
    "verify": "status IN ('verified', 'batched')",
    "batch": "status = 'batched'",
}


def _carried(db: Database, stage: str, workspace_id: int, month: dt.date) -> int:
    if stage not in CARRIED:
        return 0
    return int(
        db.scalar(
            f"SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            f" AND {CARRIED[stage]}",
            [workspace_id, month],
        )
        or 0
    )


def with_carried(out: dict[str, Any], carried: int) -> dict[str, Any]:
    """A stage's counts with the contacts that were already past it added to its input and
    output (kept apart as `carried_in`; pass rates leave them out)."""
    if not carried:
        return {**out, "carried_in": 0}
    return {
        **out,
        "input": (out.get("input") or 0) + carried,
        "output": (out.get("output") or 0) + carried,
        "carried_in": carried,
    }


def _stage_fn(stage: str, options: dict[str, Any]) -> StageFn:
    if stage == "filter":
        return lambda db, wid, month, run_id, tick: filters.filter_stage(db, wid, month)
    if stage == "verify":
        return lambda db, wid, month, run_id, tick: verification.verify_stage(
            db,
            wid,
            month,
            run_id=run_id,
            tick=tick,
            client_factory=options.get("debounce_factory"),
        )
    if stage == "batch":
        return lambda db, wid, month, run_id, tick: batching.batch_stage(db, wid, month)
    return lambda db, wid, month, run_id, tick: uploads.upload_stage(
        db, wid, month, tick=tick, client_factory=options.get("bison_factory")
    )


def execute_run(
    db: Database, run_id: int, progress: jobs.Progress | None, **options: Any
) -> dict[str, Any]:
    run = db.query("SELECT * FROM pipeline_runs WHERE id = ?", [run_id]).row(0, named=True)
    wid, month = run["workspace_id"], run["month"]
    db.execute(
        "UPDATE pipeline_runs SET status = 'running', started_at = now(), job_id = coalesce(job_id, ?)"
        " WHERE id = ?",
        [progress.job_id if progress else None, run_id],
    )
    results: dict[str, Any] = {}
    for stage in STAGES:
        status = db.scalar(
            "SELECT status FROM pipeline_stage_runs WHERE run_id = ? AND stage = ?", [run_id, stage]
        )
        if status != "pending":
            continue
        db.execute(
            "UPDATE pipeline_stage_runs SET status = 'running', started_at = now() WHERE run_id = ? AND stage = ?",
            [run_id, stage],
        )

        def tick(done: int, total: int | None, message: str | None, stage: str = stage) -> None:
            with db.cursor() as cur:
                cur.execute(
                    "UPDATE pipeline_stage_runs SET done = ?, total = ?, message = ?"
                    " WHERE run_id = ? AND stage = ?",
                    [done, total, message, run_id, stage],
                )
            if progress is not None:
                progress.update(stage, done, total, message)

        try:
            tick(0, None, None)
            carried = _carried(db, stage, wid, month)
            out = with_carried(_stage_fn(stage, options)(db, wid, month, run_id, tick), carried)
        except jobs.JobCancelled:
            _close(db, run_id, stage, "cancelled", "Cancelled by a user.")
            raise
        except Exception as exc:
            msg = (
                str(exc)
                if isinstance(exc, jobs.JobError | uploads.UploadError | ValueError)
                else f"{type(exc).__name__}: {exc}"
            )
            _close(db, run_id, stage, "failed", msg)
            raise PipelineError(f"{stage}: {msg}") from None
        db.execute(
            "UPDATE pipeline_stage_runs SET status = 'succeeded', finished_at = now(),"
            " input_count = ?, output_count = ?, counts = ?, done = coalesce(total, ?)"
            " WHERE run_id = ? AND stage = ?",
            [
                out.get("input"),
                out.get("output"),
                json.dumps(out, default=str),
                out.get("input") or 0,
                run_id,
                stage,
            ],
        )
        results[stage] = out
        if stage == "filter" and out.get("input"):
            removed = ", ".join(f"{k} {v:,}" for k, v in out["removed_by_rule"].items()) or "none"
            notices.notify(
                db,
                "refinement done",
                f"{_name(db, wid)} {month:%B %Y}: "
                f"{out['input']:,} in, {out['output']:,} kept"
                + (f" ({carried:,} of them past the filter before this run)" if carried else "")
                + f"; removed: {removed}",
                wid,
            )
    db.execute(
        "UPDATE pipeline_runs SET status = 'succeeded', finished_at = now() WHERE id = ?", [run_id]
    )
    return {"run_id": run_id, "stages": results}


def _name(db: Database, wid: int) -> str:
    return db.scalar("SELECT name FROM workspaces WHERE id = ?", [wid]) or str(wid)


def _close(db: Database, run_id: int, stage: str, status: str, error: str) -> None:
    db.execute(
        "UPDATE pipeline_stage_runs SET status = ?, error = ?, finished_at = now()"
        " WHERE run_id = ? AND stage = ?",
        [status, error, run_id, stage],
    )
    db.execute(
        "UPDATE pipeline_runs SET status = ?, error = ?, finished_at = now() WHERE id = ?",
        [status, f"{stage}: {error}", run_id],
    )


# -- jobs ------------------------------------------------------------------------------------


def resolve_workspace(db: Database, params: dict[str, Any]) -> int:
    if params.get("workspace_id"):
        return int(params["workspace_id"])
    ws = workspaces.find_by_name(db, params.get("workspace") or "")
    if ws is None:
        raise PipelineError(f"No client named {params.get('workspace')!r}.")
    return int(ws["id"])


# -- what pages call -------------------------------------------------------------------------


def start_run(
    db: Database, user: access.User, workspace_id: int, month: dt.date, from_stage: str = "filter"
) -> int:
    access.require(user, "pipeline.run")
    if not user.scope.allows(workspace_id):
        raise access.PermissionDenied("That client is not yours.")
    run_id = create_run(db, workspace_id, month, from_stage, user.email)
    jobs.start(
        db,
        "pipeline.run",
        {"run_id": run_id, "workspace_id": workspace_id},
        requested_by=user.email,
        exclusive=False,
        on_created=lambda job_id: _set_job(db, run_id, job_id),
    )
    return run_id


def _set_job(db: Database, run_id: int, job_id: str) -> None:
    """The run's job id, recorded before the job's thread starts writing to the run's row."""
    db.execute("UPDATE pipeline_runs SET job_id = ? WHERE id = ?", [job_id, run_id])


def retry_run(db: Database, user: access.User, run_id: int) -> int:
    """A new run for the same client and month, starting at the stage that failed."""
    run = db.query("SELECT * FROM pipeline_runs WHERE id = ?", [run_id])
    if not run.height:
        raise PipelineError("No such run.")
    r = run.row(0, named=True)
    if r["status"] not in ("failed", "cancelled"):
        raise PipelineError("Only a failed or cancelled run can be retried.")
    stage = (
        db.scalar(
            "SELECT stage FROM pipeline_stage_runs WHERE run_id = ? AND status IN ('failed', 'cancelled')"
            " ORDER BY position LIMIT 1",
            [run_id],
        )
        or r["from_stage"]
    )
    access.require(user, "pipeline.run")
    new_id = create_run(db, r["workspace_id"], r["month"], stage, user.email, retry_of=run_id)
    jobs.start(
        db,
        "pipeline.run",
        {"run_id": new_id, "workspace_id": r["workspace_id"]},
        requested_by=user.email,
        exclusive=False,
        on_created=lambda job_id: _set_job(db, new_id, job_id),
    )
    return new_id


def cancel_run(db: Database, user: access.User, run_id: int) -> bool:
    access.require(user, "pipeline.run")
    job_id = db.scalar("SELECT job_id FROM pipeline_runs WHERE id = ?", [run_id])
    with db.transaction() as cur:
        audit.record(
            cur, actor=user.email, action="pipeline.cancel", entity="pipeline_run", entity_id=run_id
        )
    return bool(job_id) and jobs.cancel(job_id)


def runs(db: Database, scope: Any, limit: int = 50) -> pl.DataFrame:
    return db.query(
        f"""SELECT r.id, w.name AS client, r.workspace_id, r.month, r.from_stage, r.status,
                   r.error, r.requested_by, r.created_at, r.finished_at, r.retry_of,
                   date_diff('second', r.started_at, coalesce(r.finished_at, now())) AS seconds
            FROM pipeline_runs r JOIN workspaces w ON w.id = r.workspace_id
            WHERE {scope.filter("r.workspace_id")} ORDER BY r.id DESC LIMIT ?""",
        [limit],
    )


def stages(db: Database, run_id: int) -> pl.DataFrame:
    return db.query(
        """SELECT stage, status, done, total, input_count, output_count, message, error, counts,
                  started_at, finished_at,
                  date_diff('millisecond', started_at, coalesce(finished_at, now())) / 1000.0
                    AS seconds
           FROM pipeline_stage_runs WHERE run_id = ? ORDER BY position""",
        [run_id],
    )


def pending_workspaces(db: Database, month: dt.date) -> list[int]:
    """Active clients with raw contacts in the month's scope or refined contacts not uploaded yet."""
    rows = db.rows(
        f"""SELECT DISTINCT w.id FROM workspaces w JOIN contacts c ON c.workspace_id = w.id
            WHERE w.active AND (
              (c.status = 'raw' AND {filters.run_scope(month)})
              OR (c.renewal_month = $month
                  AND c.status IN ('filtered', 'verifying', 'verified', 'batched')))
            ORDER BY w.id""",
        {"month": month},
    )
    return [r[0] for r in rows]


def workspaces_with_uploads_pending(db: Database, month: dt.date) -> list[int]:
    rows = db.rows(
        "SELECT DISTINCT workspace_id FROM batches WHERE renewal_month = ?"
        " AND contact_count > uploaded_count ORDER BY workspace_id",
        [month],
    )
    return [r[0] for r in rows]
